"""The local blob store: only sha256 names, written whole or not at all, never outside its root."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from loomsight.api.errors import InvalidInputError, NotFoundError, TooLargeError
from loomsight.api.storage import BlobKind, LocalFolderStore

DATA = b"some image bytes"
SHA = hashlib.sha256(DATA).hexdigest()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_blob_is_stored_once_under_its_name(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "root")

    first = store.put_bytes(BlobKind.IMAGE, SHA, DATA)
    again = store.put_bytes(BlobKind.IMAGE, SHA, DATA)

    assert (first.new, again.new) == (True, False)
    assert first.key == f"images/{SHA[:2]}/{SHA}"
    assert store.read_bytes(BlobKind.IMAGE, SHA) == DATA
    assert b"".join(store.stream(BlobKind.IMAGE, SHA)) == DATA
    assert _files(tmp_path) == [tmp_path / "root" / first.key]


@pytest.mark.parametrize(
    "name", ["../" * 3 + "etc", "/etc/passwd", SHA.upper(), SHA[:-1], SHA + "0", "", "..", "a\x00"]
)
def test_names_other_than_a_sha256_are_refused(tmp_path: Path, name: str) -> None:
    store = LocalFolderStore(tmp_path / "root")

    with pytest.raises(InvalidInputError, match="64 lowercase hex"):
        store.put_bytes(BlobKind.IMAGE, name, DATA)
    with pytest.raises(InvalidInputError):
        store.read_bytes(BlobKind.IMAGE, name)
    assert _files(tmp_path) == []


def test_a_stream_is_kept_only_when_its_hash_and_size_are_the_expected_ones(
    tmp_path: Path,
) -> None:
    store = LocalFolderStore(tmp_path / "root")
    wrong = "0" * 64

    with pytest.raises(InvalidInputError, match=f"file sha256 is {SHA}"):
        store.put_stream(BlobKind.MODEL, io.BytesIO(DATA), wrong, len(DATA), 1000)
    with pytest.raises(InvalidInputError, match="expected 3"):
        store.put_stream(BlobKind.MODEL, io.BytesIO(DATA), SHA, 3, 1000)
    with pytest.raises(TooLargeError, match="limit of 4 bytes"):
        store.put_stream(BlobKind.MODEL, io.BytesIO(DATA), SHA, len(DATA), 4)
    assert _files(tmp_path) == []
    stored = store.put_stream(BlobKind.MODEL, io.BytesIO(DATA), SHA, len(DATA), 1000)
    assert stored.new and store.exists(BlobKind.MODEL, SHA)


def test_a_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)

    with pytest.raises(NotFoundError):
        store.read_bytes(BlobKind.IMAGE, SHA)
    with pytest.raises(NotFoundError):
        store.stream(BlobKind.MODEL, SHA)
