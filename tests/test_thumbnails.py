"""Thumbnails of one store's images, one cache per size (jupyter_labeler.thumbnails)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pytest
from PIL import Image

from jupyter_labeler import images
from jupyter_labeler.images import MAX_FILE_BYTES
from jupyter_labeler.thumbnails import Thumbnail, ThumbnailCache, Thumbnails


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


class FakeStore:
    """Images by path; records each batch read and the limit it was read with."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.reads: list[tuple[list[str], int | None]] = []

    def read_many(
        self, rels: Iterable[str], *, limit: int | None = None
    ) -> dict[str, bytes | Exception]:
        rels = list(rels)
        self.reads.append((rels, limit))
        return {r: self.files[r] if r in self.files else FileNotFoundError(r) for r in rels}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore({"a.jpg": jpeg((200, 0, 0)), "b.jpg": jpeg((0, 200, 0))})


@pytest.fixture
def thumbs(store: FakeStore) -> Iterator[Thumbnails]:
    made = Thumbnails(store)
    yield made
    made.close()


def test_a_page_is_one_bounded_batch_and_is_cached(store: FakeStore, thumbs: Thumbnails) -> None:
    page = thumbs.get({"id-a": ("a.jpg", 100), "id-b": ("b.jpg", 0)}, 32)
    assert list(page) == ["id-a", "id-b"]
    assert all(t.ok and max(t.width, t.height) == 32 for t in page.values())
    assert store.reads == [(["a.jpg", "b.jpg"], MAX_FILE_BYTES)]
    assert thumbs.get({"id-a": ("a.jpg", 100)}, 32)["id-a"] == page["id-a"]
    assert len(store.reads) == 1


def test_each_size_has_its_own_cache(thumbs: Thumbnails) -> None:
    small = thumbs.get({"i": ("a.jpg", 0)}, 16)["i"]
    large = thumbs.get({"i": ("a.jpg", 0)}, 48)["i"]
    assert (small.width, large.width) == (16, 48)
    assert sorted(c.size for c in thumbs.values()) == [16, 48]
    assert all(isinstance(c, ThumbnailCache) for c in thumbs.values())
    assert thumbs.cache(16) is thumbs.cache(16)


def test_a_file_listed_as_too_large_is_not_read(store: FakeStore, thumbs: Thumbnails) -> None:
    page = thumbs.get({"big": ("a.jpg", MAX_FILE_BYTES + 1), "b": ("b.jpg", 10)}, 32)
    assert not page["big"].ok
    assert page["big"].error == images.file_too_large(MAX_FILE_BYTES + 1)
    assert page["b"].ok
    assert store.reads == [(["b.jpg"], MAX_FILE_BYTES)]


def test_a_missing_file_gets_a_placeholder_and_is_tried_again(
    store: FakeStore, thumbs: Thumbnails
) -> None:
    assert not thumbs.get({"x": ("gone.jpg", 0)}, 32)["x"].ok
    store.files["gone.jpg"] = jpeg((0, 0, 200))
    assert thumbs.get({"x": ("gone.jpg", 0)}, 32)["x"].ok


def test_prefetch_fills_the_cache_and_skips_files_too_large(
    store: FakeStore, thumbs: Thumbnails
) -> None:
    thumbs.prefetch({"a": ("a.jpg", 0), "big": ("b.jpg", MAX_FILE_BYTES + 1)}, 32)
    got: Thumbnail = thumbs.get({"a": ("a.jpg", 0)}, 32)["a"]  # waits for the prefetch
    assert got.ok
    assert store.reads == [(["a.jpg"], MAX_FILE_BYTES)]
    thumbs.prefetch({"big": ("b.jpg", MAX_FILE_BYTES + 1)}, 64)
    assert thumbs.values() == [thumbs.cache(32)]  # nothing to prefetch: no cache made


def test_invalidate_and_clear_reach_every_size(store: FakeStore, thumbs: Thumbnails) -> None:
    for size in (16, 32):
        thumbs.get({"a": ("a.jpg", 0), "b": ("b.jpg", 0)}, size)
    thumbs.invalidate(["a.jpg"])
    assert all("a.jpg" not in c and "b.jpg" in c for c in thumbs.values())
    thumbs.clear()
    assert all(len(c) == 0 for c in thumbs.values())


def test_close_stops_every_cache(thumbs: Thumbnails) -> None:
    thumbs.get({"a": ("a.jpg", 0)}, 16)
    thumbs.close()
    thumbs.close()
    with pytest.raises(RuntimeError, match="closed"):
        thumbs.get({"a": ("a.jpg", 0)}, 16)
