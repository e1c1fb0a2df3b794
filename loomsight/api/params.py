"""Path parameters, validated before anything reaches the database (bad ones are 422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][\w.:@+-]*$"  # loomsight.schema.Identifier
SHA256_PATTERN = r"^[0-9a-f]{64}$"


def _identifier(what: str) -> object:
    return Path(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN, description=what)


MachineIdPath = Annotated[str, _identifier("Machine id.")]
CameraIdPath = Annotated[str, _identifier("Camera id.")]
UsernamePath = Annotated[str, _identifier("Username.")]
VersionPath = Annotated[str, _identifier("Model version (from its card).")]
Sha256Path = Annotated[
    str, Path(pattern=SHA256_PATTERN, description="sha256 of the content, lowercase hex.")
]
