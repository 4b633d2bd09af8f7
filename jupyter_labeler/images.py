"""Image checks, thumbnails and a byte-bounded thumbnail cache.

Nothing here knows about widgets or stores: bytes come in, small JPEG thumbnails go out.

- :func:`inspect_image` decides whether bytes are a readable JPG, PNG or BMP image (whatever the
  file name says) and otherwise raises :class:`~jupyter_labeler.errors.ImageDecodeError` with a
  reason in plain words, fit to show a user.
- :func:`make_thumbnail` turns image bytes into a small JPEG; a broken image becomes a
  :func:`placeholder` tile that carries the reason. It never raises.
- :class:`ThumbnailCache` fetches a page of images in one batch, decodes them on a thread pool
  (Pillow releases the GIL while it decodes and resizes), keeps the results in an LRU bounded in
  bytes, and can prefetch the next page in the background.

>>> from jupyter_labeler.images import make_thumbnail
>>> thumb = make_thumbnail(open("photo.jpg", "rb").read())  # doctest: +SKIP
>>> thumb.width, thumb.height, thumb.nbytes, thumb.error  # doctest: +SKIP
(160, 120, 5821, None)
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFile, ImageOps

from .errors import ImageDecodeError

__all__ = [
    "FORMAT_SUFFIX",
    "IMAGE_SUFFIXES",
    "MAX_DECODE_PIXELS",
    "MAX_FILE_BYTES",
    "CacheStats",
    "ImageInfo",
    "Thumbnail",
    "ThumbnailCache",
    "decode_rgb",
    "file_too_large",
    "inspect_image",
    "make_thumbnail",
    "placeholder",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
"""File name endings taken for images (compared in lower case)."""

FORMAT_SUFFIX = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}
"""Pillow's format name -> the file suffix (without the dot) an image of that format should have."""

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default for Image.MAX_IMAGE_PIXELS
DEFAULT_THUMBNAIL_SIZE = 160

MAX_FILE_BYTES = 64 * 2**20
"""A file larger than this is no photo to preview (a 50 MP JPEG is ~25 MB): its thumbnail is a
placeholder, and no more than this is ever read of it."""

MAX_DECODE_PIXELS = 40_000_000
"""The most pixels a thumbnail decodes (~120 MB as RGB). JPEGs are decoded scaled down (DCT
scaling, up to 1/8 a side), so only PNG and BMP images, which cannot be, reach this: a
9400 x 9400 PNG of 257 KB would take 265 MB."""

BIG_DECODE_PIXELS = 12_000_000
"""Decodes larger than this (~36 MB as RGB) run one at a time, whatever the number of threads:
the memory of thumbnailing stays bounded on a machine with many cores."""

_BIG_DECODE = threading.Lock()

_SUPPORTED_WORDS = "use JPG, PNG or BMP"
_NOT_AN_IMAGE = "not a JPG, PNG or BMP image"

# Magic numbers, checked in this order. The bytes decide, never the file name.
_SUPPORTED_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
)
_UNSUPPORTED_SIGNATURES = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"%PDF", "PDF"),
)
_HEIF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}

# What Pillow raises on a damaged stream: decoder errors are OSError, the pure-Python chunk
# readers raise SyntaxError, struct.error or EOFError when the data runs out, and some plugins
# raise ValueError or IndexError on nonsense fields.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)

# Pillow warns (rather than raises) about a few things we turn into errors or ignore: a
# DecompressionBombWarning from Image.open, corrupt EXIF blocks, malformed MPO headers.
# warnings.catch_warnings() swaps process-wide state and is not thread-safe before Python 3.14,
# so it is only ever entered under this lock and only around cheap header work (Image.open,
# reading EXIF), never around decoding, which must stay parallel.
_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_warnings_ignored() -> Iterator[None]:
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.filterwarnings("ignore", module=r"jupyter_labeler\.images")
        yield


class ImageInfo(NamedTuple):
    """What :func:`inspect_image` found: Pillow's format name (``"JPEG"``, ``"PNG"`` or
    ``"BMP"``) and the size in pixels."""

    format: str
    width: int
    height: int


def _format_from_signature(head: bytes) -> str | None:
    for magic, fmt in _SUPPORTED_SIGNATURES:
        if head.startswith(magic):
            return fmt
    return None


def _looks_like_svg(head: bytes) -> bool:
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg"):
        return True
    return text.startswith((b"<?xml", b"<!doctype", b"<!--")) and b"<svg" in text


def _looks_like_text(head: bytes) -> bool:
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sample is still text.
        try:
            text = sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _unsupported_format(data: bytes) -> str | None:
    """The name of a known image format that is not JPG, PNG or BMP, or None."""
    head = data[:64]
    for magic, fmt in _UNSUPPORTED_SIGNATURES:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[head[8:12]]
    if _looks_like_svg(data):
        return "SVG"
    if _looks_like_text(data):
        return None
    # Last resort: let Pillow's other plugins name the format (PPM, TGA, ICNS, ...).
    try:
        with _pillow_warnings_ignored(), Image.open(io.BytesIO(data)) as im:
            named = im.format
    except Exception:  # anything at all means "Pillow cannot name it either"
        return None
    if named and named not in FORMAT_SUFFIX and named != "MPO":
        return str(named)
    return None


def _unreadable_reason(data: bytes) -> str:
    fmt = _unsupported_format(data)
    if fmt == "PDF":
        return f"PDF documents are not images: {_SUPPORTED_WORDS}"
    if fmt is not None:
        return f"{fmt} images are not supported: {_SUPPORTED_WORDS}"
    if _looks_like_text(data):
        return f"{_NOT_AN_IMAGE} (the file holds text)"
    return _NOT_AN_IMAGE


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"the image is too large: {width} x {height} pixels, more than the "
        f"{max_pixels:,} allowed (a possible decompression bomb)"
    )


def _header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or BMP header (only used to word an error)."""
    with contextlib.suppress(struct.error):
        if fmt == "PNG" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if fmt == "BMP" and struct.unpack("<I", data[14:18])[0] >= 40:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
    return None


def _open_checked(data: bytes, name: str, max_pixels: int) -> tuple[str, ImageFile.ImageFile]:
    """Open (header only) a JPG, PNG or BMP image and check its size; nothing is decoded yet."""
    if not data:
        raise ImageDecodeError("the file is empty", name)
    fmt = _format_from_signature(data[:16])
    if fmt is None:
        raise ImageDecodeError(_unreadable_reason(data), name)
    suffix = FORMAT_SUFFIX[fmt].upper()
    try:
        with _pillow_warnings_ignored():
            im = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        # Pillow refuses more than twice its own limit before we can see the size: read it from
        # the header ourselves where that is simple, so the message can say how big.
        size = _header_size(fmt, data)
        reason = (
            _too_large(*size, max_pixels)
            if size
            else f"the image is too large: more than the {max_pixels:,} pixels allowed "
            "(a possible decompression bomb)"
        )
        raise ImageDecodeError(reason, name) from None
    except Exception:
        # Any failure to parse the header (UnidentifiedImageError, OSError "Unsupported BMP
        # header type", struct.error, ...) means the same thing to a user.
        raise ImageDecodeError(f"the {suffix} header is broken", name) from None
    width, height = im.size
    if width <= 0 or height <= 0:
        im.close()
        raise ImageDecodeError(f"the {suffix} header is broken (no pixels)", name)
    if width * height > max_pixels:
        im.close()
        raise ImageDecodeError(_too_large(width, height, max_pixels), name)
    return fmt, im


_TRUNCATED = "the file is cut short: the image data is incomplete"


def _ends_properly(fmt: str, data: bytes) -> bool:
    """Whether the stream has its end marker (JPEG EOI, PNG IEND)."""
    if fmt == "JPEG":
        return data.rfind(b"\xff\xd9") > 2
    if fmt == "PNG":
        return data.rfind(b"IEND") > 8
    return True


def _load(im: ImageFile.ImageFile, fmt: str, data: bytes, name: str) -> None:
    """Decode the pixels, turning a truncated or damaged stream into ImageDecodeError."""
    # This module never sets PIL.ImageFile.LOAD_TRUNCATED_IMAGES. Some training scripts set it
    # to True for the whole process, and then Pillow pads a truncated image with grey instead
    # of failing: check the end marker ourselves in that case.
    if ImageFile.LOAD_TRUNCATED_IMAGES and not _ends_properly(fmt, data):
        raise ImageDecodeError(_TRUNCATED, name)
    try:
        im.load()
    except Image.DecompressionBombError:
        raise ImageDecodeError("the image is too large to decode safely", name) from None
    except MemoryError:
        raise ImageDecodeError("the image is too large to decode in memory", name) from None
    except _DECODE_ERRORS as exc:
        text = str(exc).lower()
        if isinstance(exc, EOFError | struct.error) or "truncated" in text or "incomplete" in text:
            reason = _TRUNCATED
        else:
            reason = "the image data is damaged"
        raise ImageDecodeError(reason, name) from None


def inspect_image(
    data: bytes, *, name: str = "", max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageInfo:
    """Check that ``data`` is a complete, readable JPG, PNG or BMP image and return its info.

    The bytes decide, not the file name: a text file called ``cat.jpg`` is refused, a PNG called
    ``cat.jpg`` is accepted as ``"PNG"`` (compare with :data:`FORMAT_SUFFIX` to spot the misnomer).
    The whole image is decoded, so a truncated or damaged file is caught. The size in the header
    is checked against ``max_pixels`` *before* anything is decoded, so a decompression bomb (a
    small file claiming to be 30000 x 30000) costs nothing. ``max_pixels`` above twice
    ``PIL.Image.MAX_IMAGE_PIXELS`` has no effect: Pillow refuses such images by itself.

    Raises :class:`~jupyter_labeler.errors.ImageDecodeError` with ``reason`` in plain words
    (and ``name``, when given, to say which file), for example ``"the file is empty"``,
    ``"GIF images are not supported: use JPG, PNG or BMP"``, ``"the BMP header is broken"``.

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (40, 30)).save(buf, "PNG")
    >>> inspect_image(buf.getvalue())
    ImageInfo(format='PNG', width=40, height=30)
    >>> inspect_image(b"GIF89a...", name="a.jpg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jupyter_labeler.errors.ImageDecodeError: a.jpg: GIF images are not supported: use JPG, PNG or...
    """
    data = bytes(data)
    fmt, im = _open_checked(data, name, max_pixels)
    with im:
        width, height = im.size
        with _BIG_DECODE if width * height > BIG_DECODE_PIXELS else contextlib.nullcontext():
            _load(im, fmt, data, name)
    return ImageInfo(fmt, width, height)


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


def _flatten(im: Image.Image) -> Image.Image:
    """Bring any mode to RGB, L or RGBA, the modes that resize well and save as JPEG."""
    mode = im.mode
    if mode in ("RGB", "L", "RGBA"):
        return im
    if mode == "P":
        # Palette transparency (a colour index or a byte table) only survives through RGBA;
        # going straight to RGB would also make Pillow warn.
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if mode in ("LA", "La", "PA", "RGBa", "RGBX"):
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode.startswith(("I", "F")):
        # 16-bit, 32-bit and float greyscale: scale to 8 bits rather than clip all above 255.
        high = im.getextrema()[1]
        hi = 255.0 if isinstance(high, tuple) else float(high)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and hi > 255) else 255.0
        if mode == "F":
            top = max(float(hi), 1.0) if hi > 255 or hi <= 1.0 else 255.0
        return im.convert("F").point(lambda v: v * (255.0 / top)).convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _on_white(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA":
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im, (0, 0), im)
        return background
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def decode_rgb(data: bytes, side: int) -> Image.Image:
    """Decode JPG, PNG or BMP bytes into an RGB image, transparent parts on white.

    A JPEG is scaled down while decoding to no less than ``side`` x ``side`` (DCT scaling);
    other formats are decoded whole. The checks are those of thumbnails: a file over
    :data:`MAX_FILE_BYTES`, a header claiming more than Pillow's pixel limit, or a decode of
    more than :data:`MAX_DECODE_PIXELS` raise :class:`~jupyter_labeler.errors.ImageDecodeError`,
    as a broken or truncated image does. The result is loaded: the bytes can go.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError("the file is too large to be a photo")
    fmt, im = _open_checked(data, "", DEFAULT_MAX_PIXELS)
    with im:
        if fmt == "JPEG":
            im.draft("RGB", (side, side))
        if im.size[0] * im.size[1] > MAX_DECODE_PIXELS:
            raise ImageDecodeError("the image is too large to decode")
        _load(im, fmt, data, "")
        flat = _flatten(im)
        flat = _on_white(flat) if flat.mode == "RGBA" else flat.convert("RGB")
        flat.load()
        return flat


def _exif_upright(im: Image.Image) -> Image.Image:
    # Parsing EXIF can warn about corrupt tags; a bad EXIF block must not hide the picture.
    try:
        with _pillow_warnings_ignored():
            return ImageOps.exif_transpose(im)
    except Exception:
        return im


def _too_large_to_preview(width: int, height: int) -> str:
    return (
        f"too large to preview: {width} x {height} pixels would need "
        f"{width * height * 3 // 2**20:,} MB to decode (at most {MAX_DECODE_PIXELS // 10**6} MP)"
    )


def _render(data: bytes, size: int, quality: int) -> Thumbnail:
    """The thumbnail of ``data``; raises ImageDecodeError for a broken image."""
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError(file_too_large())
    fmt, im = _open_checked(data, "", DEFAULT_MAX_PIXELS)
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
        with _BIG_DECODE if pixels > BIG_DECODE_PIXELS else contextlib.nullcontext():
            return _shrink(im, fmt, data, size, quality)


def file_too_large(nbytes: int | None = None) -> str:
    """Why a file gets no thumbnail: it is larger than :data:`MAX_FILE_BYTES` (``nbytes``, when
    known from a listing; otherwise only that much of it was read)."""
    limit = MAX_FILE_BYTES // 2**20
    size = f"{nbytes / 2**20:,.0f} MB; at most {limit} MB" if nbytes else f"more than {limit} MB"
    return f"the file is too large to be a photo to preview ({size})"


def _shrink(im: ImageFile.ImageFile, fmt: str, data: bytes, size: int, quality: int) -> Thumbnail:
    """Decode ``im`` (opened, checked) and make its thumbnail."""
    _load(im, fmt, data, "")
    small = _flatten(im)
    small.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    # EXIF (and im.info) survive thumbnail(): transposing the small image is cheap.
    small = _exif_upright(small)
    small = _on_white(small)
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
