"""Small images made in code for tests (no data is downloaded)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image


def image_bytes(seed: int = 0, size: tuple[int, int] = (64, 48), fmt: str = "JPEG") -> bytes:
    """A small image whose colour depends on ``seed``."""
    color = ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256)
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def image_folder(parent: Path, count: int) -> Path:
    """A new folder ``images`` under ``parent`` with ``count`` JPEGs in it."""
    folder = parent / "images"
    folder.mkdir()
    fill_folder(lambda name, data: (folder / name).write_bytes(data), count)
    return folder


def fill_folder(
    write: Callable[[str, bytes], object], count: int, *, prefix: str = "img"
) -> list[str]:
    """Write ``count`` JPEGs named ``<prefix>_000.jpg``...; returns their names."""
    names = [f"{prefix}_{i:03d}.jpg" for i in range(count)]
    for i, name in enumerate(names):
        write(name, image_bytes(i))
    return names
