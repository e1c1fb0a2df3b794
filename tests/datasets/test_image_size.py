"""WIDTHxHEIGHT sizes as written on command lines."""

from __future__ import annotations

import pytest

from loomsight.datasets.image_size import parse_size_wh


@pytest.mark.parametrize(
    ("text", "size_wh"), [("1280x720", (1280, 720)), (" 416X416 ", (416, 416))]
)
def test_sizes_are_read_width_first(text: str, size_wh: tuple[int, int]) -> None:
    assert parse_size_wh(text) == size_wh


@pytest.mark.parametrize("text", ["big", "640", "640x", "640x480x3", "0x480", "-640x480", "6.4x4"])
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size_wh(text)
