"""Image sizes written as WIDTHxHEIGHT (`640x640`) on command lines and in benchmarks."""

from __future__ import annotations


def parse_size_wh(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); ValueError, saying what was expected, for anything else (sides
    must be positive whole numbers)."""
    try:
        width, height = (int(part) for part in text.strip().lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WIDTHxHEIGHT such as 640x640, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"expected WIDTHxHEIGHT with both sides above 0, got {text!r}")
    return width, height
