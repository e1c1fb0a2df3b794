"""Request and response models of article models: the model a machine runs while it weaves one
fabric article (set when a model was calibrated for that machine and article)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from loomsight.schema import Identifier


class ArticleModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Identifier = Field(description="The uploaded model's version (from its card).")


class ArticleModelOut(BaseModel):
    article: str = Field(description="The fabric article, as the machine's `article` names it.")
    version: str
    name: str = Field(description="The model's name (from its card).")
    activated_at: datetime
    activated_by: str | None
    current: bool = Field(
        description="The machine weaves this article now, so its cameras run this model."
    )
