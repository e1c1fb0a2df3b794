"""Detector models: upload (ONNX file + card, checked against each other), activate for all
machines or some, tell a camera which model its machine runs (the article's, the machine's or
the model for all), hand out the file (and the article's texture-anomaly model, when the card
names one: uploaded beside the ONNX file, announced and handed out the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import ConflictError, InvalidInputError, NotFoundError
from loomsight.api.schemas import ModelOut
from loomsight.api.storage import BlobKind, BlobStore
from loomsight.api.tables import ArticleModel, Machine, Model, ModelActivation
from loomsight.inference.model_card import ModelCard, ModelFile
from loomsight.schema import MODEL_FILE_PATH, MODEL_TEXTURE_PATH, ActiveModel, Identifier

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def download_path(version: str, path: str = MODEL_FILE_PATH) -> str:
    return path.format(version=quote(version, safe="@:+"))


def parse_card(content: bytes) -> ModelCard:
    """The model card in CONTENT; InvalidInputError naming the first bad field."""
    try:
        card = ModelCard.model_validate_json(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "card"
        raise InvalidInputError(f"model card {where}: {first['msg']}") from None
    for field in ("name", "version"):
        try:
            _IDENTIFIER.validate_python(getattr(card, field))
        except ValidationError:
            raise InvalidInputError(
                f"model card {field} {getattr(card, field)!r} must be 1-64 letters, digits or "
                "._:@+- (it travels in URLs and events)"
            ) from None
    return card


class ModelService:
    def __init__(self, session: Session, store: BlobStore, clock: Clock) -> None:
        self.session = session
        self.store = store
        self.clock = clock

    def upload(
        self,
        onnx: BinaryIO,
        card_json: bytes,
        uploader: str,
        max_bytes: int,
        texture: BinaryIO | None = None,
    ) -> tuple[Model, bool]:
        """Store the model; returns it and whether it was new. The file must be the one its card
        describes (sha256 and size), and so must TEXTURE, which comes when the card names one and
        only then; a version already held with other bytes is a conflict."""
        card = parse_card(card_json)
        if (card.texture is None) != (texture is None):
            raise InvalidInputError(
                "the card names a texture file: send it as 'texture'"
                if card.texture is not None
                else "a 'texture' file came but the card names none (card.texture)"
            )
        existing = self.session.get(Model, card.version)
        if existing is not None and existing.sha256 != card.onnx.sha256:
            raise ConflictError(
                f"model version {card.version!r} is held already with another file "
                f"(sha256 {existing.sha256}); export a new version"
            )
        blob = self.store.put_stream(
            BlobKind.MODEL, onnx, card.onnx.sha256, card.onnx.size_bytes, max_bytes
        )
        if card.texture is not None and texture is not None:
            self.store.put_stream(
                BlobKind.MODEL, texture, card.texture.sha256, card.texture.size_bytes, max_bytes
            )
        if existing is not None:
            return existing, False
        model = Model(
            version=card.version,
            name=card.name,
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            file_key=blob.key,
            card=card.model_dump(mode="json"),
            uploaded_at=self.clock(),
            uploaded_by=uploader,
            active_for_all=False,
        )
        self.session.add(model)
        self.session.commit()
        return model, True

    def get(self, version: str) -> Model:
        model = self.session.get(Model, version)
        if model is None:
            raise NotFoundError(f"no model version {version!r}")
        return model

    def all(self) -> list[Model]:
        return list(self.session.scalars(select(Model).order_by(Model.uploaded_at.desc())))

    def describe(self, model: Model) -> ModelOut:
        machines = self.session.scalars(
            select(ModelActivation.machine_id)
            .where(ModelActivation.model_version == model.version)
            .order_by(ModelActivation.machine_id)
        )
        return ModelOut(
            name=model.name,
            version=model.version,
            sha256=model.sha256,
            size_bytes=model.size_bytes,
            uploaded_at=model.uploaded_at,
            uploaded_by=model.uploaded_by,
            active_for_all=model.active_for_all,
            active_machines=list(machines),
            download_path=download_path(model.version),
            card=ModelCard.model_validate(model.card),
        )

    def _machines(self, machine_ids: list[str]) -> list[str]:
        wanted = sorted(set(machine_ids))
        known = set(self.session.scalars(select(Machine.id).where(Machine.id.in_(wanted))))
        if unknown := [m for m in wanted if m not in known]:
            raise NotFoundError(f"no machine {', '.join(map(repr, unknown))}")
        return wanted

    def activate(self, version: str, machine_ids: list[str] | None, admin: str) -> Model:
        """Make VERSION the model of every machine without its own (MACHINE_IDS None), or the
        model of MACHINE_IDS (replacing what they ran)."""
        model = self.get(version)
        if machine_ids is None:
            self.session.execute(
                update(Model).where(Model.active_for_all.is_(True)).values(active_for_all=False)
            )
            self.session.flush()
            model.active_for_all = True
        else:
            machines = self._machines(machine_ids)
            self.session.execute(
                delete(ModelActivation).where(ModelActivation.machine_id.in_(machines))
            )
            now = self.clock()
            self.session.add_all(
                ModelActivation(
                    machine_id=machine_id,
                    model_version=version,
                    activated_at=now,
                    activated_by=admin,
                )
                for machine_id in machines
            )
        self.session.commit()
        return model

    def deactivate(self, version: str, machine_ids: list[str] | None) -> Model:
        """Stop VERSION being the model for all machines (None), or for MACHINE_IDS (they fall
        back to the model for all machines)."""
        model = self.get(version)
        if machine_ids is None:
            model.active_for_all = False
        else:
            self.session.execute(
                delete(ModelActivation).where(
                    ModelActivation.model_version == version,
                    ModelActivation.machine_id.in_(self._machines(machine_ids)),
                )
            )
        self.session.commit()
        return model

    def _chosen_version(self, machine_id: str, article: str | None) -> str | None:
        """The version set for MACHINE_ID and ARTICLE, else the one set for MACHINE_ID alone."""
        if article is not None:
            chosen = self.session.get(ArticleModel, (machine_id, article))
            if chosen is not None:
                return chosen.model_version
        activation = self.session.get(ModelActivation, machine_id)
        return None if activation is None else activation.model_version

    def active_for(self, machine_id: str) -> ActiveModel:
        """The model MACHINE_ID should run: the one set for it and the article it weaves now,
        else its own, else the model for all machines; NotFoundError when there is none."""
        machine = self.session.get(Machine, machine_id)
        version = self._chosen_version(machine_id, None if machine is None else machine.article)
        if version is not None:
            model = self.get(version)
        else:
            found = self.session.scalar(select(Model).where(Model.active_for_all.is_(True)))
            if found is None:
                raise NotFoundError(f"no model is active for machine {machine_id!r}")
            model = found
        texture = ModelCard.model_validate(model.card).texture
        return ActiveModel(
            name=model.name,
            version=model.version,
            sha256=model.sha256,
            size_bytes=model.size_bytes,
            download_path=download_path(model.version),
            texture_sha256=None if texture is None else texture.sha256,
            texture_size_bytes=None if texture is None else texture.size_bytes,
            texture_download_path=(
                None if texture is None else download_path(model.version, MODEL_TEXTURE_PATH)
            ),
        )

    def file(self, version: str) -> tuple[Model, Iterator[bytes]]:
        model = self.get(version)
        return model, self.store.stream(BlobKind.MODEL, model.sha256)

    def texture_file(self, version: str) -> tuple[ModelFile, Iterator[bytes]]:
        """The model's texture-anomaly file; NotFoundError when it has none."""
        texture = ModelCard.model_validate(self.get(version).card).texture
        if texture is None:
            raise NotFoundError(f"model version {version!r} has no texture-anomaly model")
        return texture, self.store.stream(BlobKind.MODEL, texture.sha256)
