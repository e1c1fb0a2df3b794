from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loomsight.api.clock import utc_now
from loomsight.api.database import make_engine
from loomsight.api.services.retention import prune_images
from loomsight.api.storage import LocalFolderStore
from loomsight.api.tables import Event, Image
from loomsight.schema import IMAGE_PATH
from tests.api.conftest import LiveApi, batch, event, post_batch
from tests.api.test_images import jpeg, sha256


def test_old_images_are_pruned_and_their_events_kept(api: LiveApi, database_url: str) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    reviewer = api.add_user("rita", "reviewer")
    old, new = jpeg(1), jpeg(2)
    for data in (old, new):
        path = IMAGE_PATH.format(sha256=sha256(data))
        assert camera.put(path, content=data, headers={"content-type": "image/jpeg"}).is_success
    events = [event("loom-1", "cam-1", crop_sha256=sha256(data)) for data in (old, new)]
    assert post_batch(camera, batch(events=events)).status_code == 200
    engine = make_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session:
            session.execute(
                update(Image)
                .where(Image.sha256 == sha256(old))
                .values(created_at=utc_now() - timedelta(days=40))
            )
            session.commit()
            result = prune_images(
                session, LocalFolderStore(api.settings.storage_dir), utc_now() - timedelta(days=30)
            )
            assert (result.images_deleted, result.bytes_freed) == (1, len(old))
            assert session.scalar(select(func.count()).select_from(Event)) == 2  # events kept
            assert session.scalar(select(func.count()).select_from(Image)) == 1
    finally:
        engine.dispose()
    assert reviewer.get(IMAGE_PATH.format(sha256=sha256(old))).status_code == 404
    assert reviewer.get(IMAGE_PATH.format(sha256=sha256(new))).content == new
    assert not list(api.settings.storage_dir.rglob(sha256(old)))
