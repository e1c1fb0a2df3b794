"""Article models: the model a machine runs while it weaves one article, set, removed and listed
by admins. Which model a camera runs is decided in `ModelService.active_for`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.article_models import ArticleModelOut
from loomsight.api.clock import Clock
from loomsight.api.errors import NotFoundError
from loomsight.api.services.machines import existing_machine
from loomsight.api.tables import ArticleModel, Machine, Model


class ArticleModelService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def _machine(self, machine_id: str) -> Machine:
        return existing_machine(self.session, machine_id)

    def _describe(self, machine: Machine, chosen: ArticleModel, model: Model) -> ArticleModelOut:
        return ArticleModelOut(
            article=chosen.article,
            version=model.version,
            name=model.name,
            activated_at=chosen.activated_at,
            activated_by=chosen.activated_by,
            current=chosen.article == machine.article,
        )

    def set(self, machine_id: str, article: str, version: str, admin: str) -> ArticleModelOut:
        """Make VERSION the model MACHINE_ID runs while it weaves ARTICLE (replacing one set
        before); it takes effect when the machine's article is ARTICLE."""
        machine = self._machine(machine_id)
        model = self.session.get(Model, version)
        if model is None:
            raise NotFoundError(f"no model version {version!r}; upload it first")
        chosen = self.session.get(ArticleModel, (machine_id, article))
        if chosen is None:
            chosen = ArticleModel(machine_id=machine_id, article=article)
            self.session.add(chosen)
        chosen.model_version = version
        chosen.activated_at = self.clock()
        chosen.activated_by = admin
        self.session.commit()
        return self._describe(machine, chosen, model)

    def remove(self, machine_id: str, article: str) -> None:
        """MACHINE_ID no longer has a model of its own for ARTICLE (it falls back to its own
        model, then to the model for all machines)."""
        self._machine(machine_id)
        chosen = self.session.get(ArticleModel, (machine_id, article))
        if chosen is None:
            raise NotFoundError(f"machine {machine_id!r} has no model set for article {article!r}")
        self.session.delete(chosen)
        self.session.commit()

    def for_machine(self, machine_id: str) -> list[ArticleModelOut]:
        """The articles MACHINE_ID has a model for, by article."""
        machine = self._machine(machine_id)
        rows = self.session.execute(
            select(ArticleModel, Model)
            .join(Model, Model.version == ArticleModel.model_version)
            .where(ArticleModel.machine_id == machine_id)
            .order_by(ArticleModel.article)
        )
        return [self._describe(machine, chosen, model) for chosen, model in rows]
