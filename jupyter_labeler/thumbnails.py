"""Thumbnails: small JPEGs of images, a byte-bounded cache of them, and one cache per size.

Nothing here knows about widgets; stores come in only as something to read bytes from.

- :func:`make_thumbnail` turns image bytes into a small JPEG; a broken image becomes a
  :func:`placeholder` tile that carries the reason. It never raises.
- :class:`ThumbnailCache` fetches a page of images in one batch, decodes them on a thread pool
  (Pillow releases the GIL while it decodes and resizes), keeps the results in an LRU bounded in
  bytes, and can prefetch the next page in the background.
- :class:`Thumbnails` holds a :class:`ThumbnailCache` per size for the images of one store, and
  gives a file too large to be a photo its placeholder without reading it.

The checks and decoding steps come from :mod:`.images`.

>>> from jupyter_labeler.thumbnails import make_thumbnail
>>> thumb = make_thumbnail(open("photo.jpg", "rb").read())  # doctest: +SKIP
>>> thumb.width, thumb.height, thumb.nbytes, thumb.error  # doctest: +SKIP
(160, 120, 5821, None)
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from PIL import Image, ImageDraw, ImageFile

from .errors import ImageDecodeError
from .images import (
    BIG_DECODE,
    BIG_DECODE_PIXELS,
    DEFAULT_MAX_PIXELS,
    MAX_DECODE_PIXELS,
    MAX_FILE_BYTES,
    file_too_large,
    flatten_mode,
    load_pixels,
    on_white,
    open_checked,
    upright,
)

__all__ = [
    "DEFAULT_THUMBNAIL_SIZE",
    "CacheStats",
    "ReadMany",
    "Thumbnail",
    "ThumbnailCache",
    "Thumbnails",
    "make_thumbnail",
    "placeholder",
]

DEFAULT_THUMBNAIL_SIZE = 160


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A small JPEG rendering of an image.

    ``error`` is None for a real thumbnail; for a placeholder tile it holds the reason the image
    could not be shown (a broken file, a failed read), in plain words.
    """

    data: bytes
    width: int
    height: int
    error: str | None = None

    @property
    def nbytes(self) -> int:
        """Size of the JPEG bytes (what the cache counts)."""
        return len(self.data)

    @property
    def ok(self) -> bool:
        """True for a real thumbnail, False for a placeholder."""
        return self.error is None

    def __repr__(self) -> str:
        what = "ok" if self.error is None else f"error={self.error!r}"
        return f"Thumbnail({self.width}x{self.height}, {self.nbytes} bytes, {what})"


def _check_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise ValueError(f"thumbnail size must be an integer from 8 to 4096, not {size!r}")
    return size


@functools.lru_cache(maxsize=16)
def _placeholder_jpeg(size: int) -> bytes:
    tile = Image.new("RGB", (size, size), (224, 224, 224))
    draw = ImageDraw.Draw(tile)
    ink = (150, 150, 150)
    # A picture frame with a mountain and a sun, torn by a zigzag: the usual "broken image" mark.
    m = size * 3 // 10
    left, top, right, bottom = m, m + size // 20, size - m, size - m - size // 20
    width = max(1, size // 60)
    draw.rectangle((left, top, right, bottom), outline=ink, width=width)
    w, h = right - left, bottom - top
    draw.polygon(
        [
            (left + width, bottom - width),
            (left + w * 0.35, top + h * 0.45),
            (left + w * 0.55, top + h * 0.7),
            (left + w * 0.7, top + h * 0.55),
            (right - width, bottom - width),
        ],
        fill=ink,
    )
    r = max(1, size // 32)
    cx, cy = left + w * 0.75, top + h * 0.28
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
    teeth = 5
    zigzag = [
        (left + w * (0.45 + (0.08 if i % 2 else -0.04)), top + h * i / teeth)
        for i in range(teeth + 1)
    ]
    draw.line(zigzag, fill=(224, 224, 224), width=max(2, size // 40))
    out = io.BytesIO()
    tile.save(out, "JPEG", quality=80)
    return out.getvalue()


def placeholder(reason: str, size: int = DEFAULT_THUMBNAIL_SIZE) -> Thumbnail:
    """A neutral grey square tile with a broken-image mark, carrying ``reason`` as its error.

    The JPEG bytes are made once per size and shared; the widget shows ``reason`` beside it.
    """
    size = _check_size(size)
    return Thumbnail(
        _placeholder_jpeg(size), size, size, str(reason) or "the image cannot be shown"
    )


def _too_large_to_preview(width: int, height: int) -> str:
    return (
        f"too large to preview: {width} x {height} pixels would need "
        f"{width * height * 3 // 2**20:,} MB to decode (at most {MAX_DECODE_PIXELS // 10**6} MP)"
    )


def _render(data: bytes, size: int, quality: int) -> Thumbnail:
    """The thumbnail of ``data``; raises ImageDecodeError for a broken image."""
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError(file_too_large())
    fmt, im = open_checked(data, "", DEFAULT_MAX_PIXELS)
    with im:
        if fmt == "JPEG":
            # Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding (DCT scaling): a 2 MP photo
            # then decodes as ~0.03 MP, several times faster than decoding it whole.
            im.draft("RGB", (size, size))
        # What the decoder will really allocate (after DCT scaling, for a JPEG).
        width, height = im.size
        pixels = width * height
        if pixels > MAX_DECODE_PIXELS:
            raise ImageDecodeError(_too_large_to_preview(width, height))
        with BIG_DECODE if pixels > BIG_DECODE_PIXELS else contextlib.nullcontext():
            return _shrink(im, fmt, data, size, quality)


def _shrink(im: ImageFile.ImageFile, fmt: str, data: bytes, size: int, quality: int) -> Thumbnail:
    """Decode ``im`` (opened, checked) and make its thumbnail."""
    load_pixels(im, fmt, data, "")
    small = flatten_mode(im)
    small.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    # EXIF (and im.info) survive thumbnail(): transposing the small image is cheap.
    small = upright(small)
    small = on_white(small)
    # Saved here: small may still be im itself, which closing (by the caller) invalidates.
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality, optimize=True)
    return Thumbnail(out.getvalue(), small.width, small.height)


def _render_or_placeholder(data: bytes, size: int, quality: int) -> tuple[Thumbnail, bool]:
    """(thumbnail, cacheable): a broken image gives a cacheable placeholder, a surprise not."""
    try:
        return _render(data, size, quality), True
    except ImageDecodeError as exc:
        return placeholder(exc.reason, size), True
    except MemoryError:
        return placeholder("the image is too large to decode in memory", size), False
    except Exception:
        # A bug or an odd Pillow failure: show a tile, don't break the page, try again later.
        return placeholder("the image cannot be shown", size), False


def make_thumbnail(data: bytes, size: int = DEFAULT_THUMBNAIL_SIZE, quality: int = 80) -> Thumbnail:
    """A JPEG thumbnail of ``data`` fitting in ``size`` x ``size`` pixels (aspect kept).

    JPEGs are scaled down while decoding (``Image.draft``), transparency is flattened onto white,
    16-bit, palette and CMYK images come out as ordinary RGB, and the EXIF orientation is applied
    so that camera photos stand upright. The result is a baseline JPEG at ``quality`` (about
    6 KB at the defaults).

    Never raises for bad image data: a broken, truncated or non-image file gives a
    :func:`placeholder` whose ``error`` says why.
    """
    size = _check_size(size)
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be from 1 to 95, not {quality!r}")
    return _render_or_placeholder(bytes(data), size, quality)[0]


class CacheStats(NamedTuple):
    """Counters of a :class:`ThumbnailCache`: lookups served from memory (``hits``), lookups
    that needed a fetch (``misses``), and what the cache holds now (``bytes``, ``entries``)."""

    hits: int
    misses: int
    bytes: int
    entries: int


ReadMany = Callable[[list[str]], Mapping[str, "bytes | Exception"]]


def _read_failure(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])  # KeyError's str() adds quotes
    return text or f"the image could not be read ({type(exc).__name__})"


class ThumbnailCache:
    """Thumbnails of images in a store, fetched in batches and kept in memory.

    ``read_many(keys)`` must return ``{key: bytes or Exception}`` for a list of keys, reading
    them concurrently (:meth:`jupyter_labeler.storage.Store.read_many` does). The cache:

    - serves hits from an LRU bounded in bytes (``max_bytes``, 64 MiB ~ 10,000 thumbnails);
    - fetches all misses of one call in a single ``read_many`` call, then decodes them on a
      pool of ``workers`` threads (default: one per CPU);
    - lets :meth:`prefetch` do the same in the background; a :meth:`get` for keys a prefetch
      is already fetching waits for that work instead of fetching again;
    - turns failures into placeholders: a failed read (store down, file gone) is *not* cached,
      so the next :meth:`get` tries again; a broken image is cached like any thumbnail (call
      :meth:`invalidate` when the file changes).

    It is thread-safe. Close it (or use it as a context manager) to stop its threads.

    >>> cache = ThumbnailCache(store.read_many)  # doctest: +SKIP
    >>> page = cache.get(paths[:48])  # doctest: +SKIP
    >>> cache.prefetch(paths[48:96])  # doctest: +SKIP
    """

    def __init__(
        self,
        read_many: ReadMany,
        *,
        size: int = DEFAULT_THUMBNAIL_SIZE,
        max_bytes: int = 64 * 2**20,
        workers: int | None = None,
    ) -> None:
        if not callable(read_many):
            raise TypeError("read_many must be a callable taking a list of keys")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, not {max_bytes!r}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be 1 or more, not {workers!r}")
        self._read_many = read_many
        self.size = _check_size(size)
        self.max_bytes = int(max_bytes)
        self._workers = workers or os.cpu_count() or 2
        self._lock = threading.Lock()
        self._lru: OrderedDict[str, Thumbnail] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        # key -> the Future of the batch load now in flight for it; whoever claimed the key
        # resolves it, everybody else waits on it.
        self._pending: dict[str, Future[Thumbnail]] = {}
        self._closed = False
        # Pools are made on first use so that a cache that is never asked costs no threads.
        self._decoders: ThreadPoolExecutor | None = None
        self._background: ThreadPoolExecutor | None = None

    # -- public -----------------------------------------------------------------------------
    def get(self, keys: Iterable[str]) -> dict[str, Thumbnail]:
        """The thumbnails of ``keys`` (in that order), fetching and decoding the missing ones.

        Every key gets a Thumbnail: a failure gives a placeholder whose ``error`` says why.
        """
        keys = list(dict.fromkeys(keys))
        found, claimed, waiting = self._claim(keys)
        if claimed:
            self._fetch(claimed)
        for key, future in {**claimed, **waiting}.items():
            found[key] = future.result()
        return {key: found[key] for key in keys}

    def prefetch(self, keys: Iterable[str]) -> Future[dict[str, Thumbnail]]:
        """Start loading ``keys`` in the background; the Future gives what :meth:`get` would.

        Keys already cached are only marked as recently used. Keys claimed here are fetched
        once, even if :meth:`get` asks for them before the prefetch is done.
        """
        keys = list(dict.fromkeys(keys))
        found, claimed, waiting = self._claim(keys)
        futures = {**claimed, **waiting}

        def finish() -> dict[str, Thumbnail]:
            if claimed:
                self._fetch(claimed)
            out = dict(found)
            for key, future in futures.items():
                out[key] = future.result()
            return {key: out[key] for key in keys}

        if not claimed and all(f.done() for f in waiting.values()):
            done: Future[dict[str, Thumbnail]] = Future()
            done.set_result(finish())
            return done
        try:
            return self._background_pool().submit(finish)
        except RuntimeError:
            # Closed in the meantime: nobody will run the batch, so resolve its keys here.
            self._abandon(claimed, "the thumbnail cache is closed")
            raise

    def invalidate(self, keys: Iterable[str]) -> None:
        """Forget the thumbnails of ``keys`` (the files changed); a load in flight for them is
        not cached when it ends."""
        with self._lock:
            for key in keys:
                thumb = self._lru.pop(key, None)
                if thumb is not None:
                    self._bytes -= thumb.nbytes
                self._pending.pop(key, None)

    def clear(self) -> None:
        """Forget every thumbnail (the counters of :attr:`stats` stay)."""
        with self._lock:
            self._lru.clear()
            self._bytes = 0
            self._pending.clear()

    @property
    def stats(self) -> CacheStats:
        """Hits, misses, bytes held and entries held, as a :class:`CacheStats`."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._bytes, len(self._lru))

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._lru

    def close(self) -> None:
        """Stop the threads, after the batches already running finish. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            background, decoders = self._background, self._decoders
        if background is not None:
            background.shutdown(wait=True, cancel_futures=True)
        if decoders is not None:
            decoders.shutdown(wait=True)
        # Prefetches cancelled before they started leave their keys claimed: release waiters.
        with self._lock:
            stranded = {k: f for k, f in self._pending.items() if not f.done()}
            self._pending.clear()
        for future in stranded.values():
            with contextlib.suppress(Exception):
                future.set_result(placeholder("the thumbnail cache is closed", self.size))

    def __enter__(self) -> ThumbnailCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"ThumbnailCache(size={self.size}, entries={s.entries}, "
            f"bytes={s.bytes}/{self.max_bytes}, hits={s.hits}, misses={s.misses})"
        )

    # -- internals --------------------------------------------------------------------------
    def _claim(
        self, keys: list[str]
    ) -> tuple[dict[str, Thumbnail], dict[str, Future[Thumbnail]], dict[str, Future[Thumbnail]]]:
        """Split ``keys`` into cache hits, keys this caller must load, keys someone else loads."""
        found: dict[str, Thumbnail] = {}
        claimed: dict[str, Future[Thumbnail]] = {}
        waiting: dict[str, Future[Thumbnail]] = {}
        with self._lock:
            if self._closed:
                raise RuntimeError("the thumbnail cache is closed")
            for key in keys:
                thumb = self._lru.get(key)
                if thumb is not None:
                    self._lru.move_to_end(key)
                    self._hits += 1
                    found[key] = thumb
                    continue
                self._misses += 1
                in_flight = self._pending.get(key)
                if in_flight is not None:
                    waiting[key] = in_flight
                else:
                    future: Future[Thumbnail] = Future()
                    self._pending[key] = future
                    claimed[key] = future
        return found, claimed, waiting

    def _fetch(self, claimed: dict[str, Future[Thumbnail]]) -> None:
        """Read all claimed keys in one batch, decode them in parallel, resolve their futures."""
        keys = list(claimed)
        try:
            try:
                got = self._read_many(keys)
            except Exception as exc:
                got = dict.fromkeys(keys, exc)
            raw: dict[str, bytes] = {}
            for key in keys:
                value = got.get(key) if isinstance(got, Mapping) else None
                if isinstance(value, bytes | bytearray | memoryview):
                    raw[key] = bytes(value)
                    continue
                if value is None:
                    reason = "the store returned nothing for this image"
                elif isinstance(value, BaseException):
                    reason = _read_failure(value)
                else:
                    reason = f"the store returned {type(value).__name__}, not bytes"
                self._resolve(key, claimed[key], placeholder(reason, self.size), cacheable=False)
            for key, (thumb, cacheable) in zip(
                raw, self._decode_all(list(raw.values())), strict=True
            ):
                self._resolve(key, claimed[key], thumb, cacheable=cacheable)
        finally:
            # Whatever went wrong above (even KeyboardInterrupt), nobody may wait forever.
            self._abandon(claimed, "the thumbnail could not be made")

    def _decode_all(self, blobs: list[bytes]) -> list[tuple[Thumbnail, bool]]:
        size = self.size
        pool = self._decoder_pool() if len(blobs) > 1 and self._workers > 1 else None
        if pool is not None:
            try:
                return list(pool.map(lambda b: _render_or_placeholder(b, size, 80), blobs))
            except RuntimeError:  # the pool was shut down by close() meanwhile
                pass
        return [_render_or_placeholder(b, size, 80) for b in blobs]

    def _resolve(
        self, key: str, future: Future[Thumbnail], thumb: Thumbnail, *, cacheable: bool
    ) -> None:
        with self._lock:
            # Only the load that still owns the key may cache it: after invalidate() or clear()
            # the result may be stale.
            if self._pending.get(key) is future:
                del self._pending[key]
                if cacheable and not self._closed:
                    self._insert(key, thumb)
        with contextlib.suppress(InvalidStateError):  # close() may have released it already
            future.set_result(thumb)

    def _insert(self, key: str, thumb: Thumbnail) -> None:
        # Called with the lock held.
        if thumb.nbytes > self.max_bytes:
            return
        old = self._lru.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._lru[key] = thumb
        self._bytes += thumb.nbytes
        while self._bytes > self.max_bytes and self._lru:
            _, evicted = self._lru.popitem(last=False)
            self._bytes -= evicted.nbytes

    def _abandon(self, claimed: Mapping[str, Future[Thumbnail]], reason: str) -> None:
        for key, future in claimed.items():
            if not future.done():
                self._resolve(key, future, placeholder(reason, self.size), cacheable=False)

    def _decoder_pool(self) -> ThreadPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._decoders is None:
                self._decoders = ThreadPoolExecutor(self._workers, thread_name_prefix="thumbnail")
            return self._decoders

    def _background_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the thumbnail cache is closed")
            if self._background is None:
                # Two: the next page can be prefetched while the one after waits for its batch.
                self._background = ThreadPoolExecutor(2, thread_name_prefix="thumbnail-prefetch")
            return self._background


class Reader(Protocol):
    """What :class:`Thumbnails` reads images with (:class:`~.storage.Store` is one)."""

    def read_many(
        self, rels: Iterable[str], *, limit: int | None = None
    ) -> Mapping[str, bytes | Exception]:
        """``{path: bytes or the Exception that reading it raised}``; with ``limit``, at most
        ``limit + 1`` bytes of each."""
        ...


class Thumbnails:
    """The thumbnails of one store's images, at any size: one :class:`ThumbnailCache` a size.

    Images are given as ``{key: (path, bytes)}``: the key they are returned under (an image id),
    their path in ``store``, and their size as a listing gave it (0 when unknown). A file listed
    as larger than :data:`~.images.MAX_FILE_BYTES` is not read at all: it gets a placeholder
    saying so. Of the others, no more than ``MAX_FILE_BYTES + 1`` bytes are read, since a
    larger file gets that placeholder anyway. ``store.read_many`` is looked up at each read.

    It is thread-safe. :meth:`close` stops the threads of every cache.

    >>> thumbs = Thumbnails(store)  # doctest: +SKIP
    >>> page = thumbs.get({"a1b2": ("cats/1.jpg", 52113)}, 160)  # doctest: +SKIP
    >>> page["a1b2"].ok  # doctest: +SKIP
    True
    """

    def __init__(self, store: Reader) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._caches: dict[int, ThumbnailCache] = {}

    def cache(self, size: int) -> ThumbnailCache:
        """The cache of thumbnails of ``size`` pixels, made on first use."""
        with self._lock:
            cache = self._caches.get(size)
            if cache is None:
                cache = self._caches[size] = ThumbnailCache(self._read, size=size)
            return cache

    def get(
        self, images: Mapping[str, tuple[str, int]], size: int = DEFAULT_THUMBNAIL_SIZE
    ) -> dict[str, Thumbnail]:
        """The thumbnail of each of ``images`` (see the class docstring), by key, fetched in one
        concurrent batch and cached. A broken image gets a placeholder whose ``error`` says why.
        """
        huge = {path for path, nbytes in images.values() if nbytes > MAX_FILE_BYTES}
        found = self.cache(size).get([path for path, _ in images.values() if path not in huge])
        return {
            key: placeholder(file_too_large(nbytes), size) if path in huge else found[path]
            for key, (path, nbytes) in images.items()
        }

    def prefetch(
        self, images: Mapping[str, tuple[str, int]], size: int = DEFAULT_THUMBNAIL_SIZE
    ) -> None:
        """Start making the thumbnails of ``images`` in the background (for the next page)."""
        paths = [path for path, nbytes in images.values() if nbytes <= MAX_FILE_BYTES]
        if paths:
            self.cache(size).prefetch(paths)

    def invalidate(self, paths: Iterable[str]) -> None:
        """Forget the thumbnails of ``paths`` at every size (the files changed or went)."""
        paths = list(paths)
        for cache in self.values():
            cache.invalidate(paths)

    def clear(self) -> None:
        """Forget every thumbnail at every size."""
        for cache in self.values():
            cache.clear()

    def close(self) -> None:
        """Stop the threads of every cache. Idempotent."""
        for cache in self.values():
            cache.close()

    def values(self) -> list[ThumbnailCache]:
        """The caches made so far, one a size."""
        with self._lock:
            return list(self._caches.values())

    def _read(self, paths: list[str]) -> Mapping[str, bytes | Exception]:
        return self._store.read_many(paths, limit=MAX_FILE_BYTES)

    def __repr__(self) -> str:
        return f"Thumbnails(sizes={sorted(c.size for c in self.values())})"
