"""Image checks and decoding: whether bytes are an image we take, and their pixels.

Nothing here knows about widgets or stores: bytes come in, a verdict or a decoded image goes out.

- :func:`inspect_image` decides whether bytes are a readable JPG, PNG or BMP image (whatever the
  file name says) and otherwise raises :class:`~jupyter_labeler.errors.ImageDecodeError` with a
  reason in plain words, fit to show a user.
- :func:`decode_rgb` decodes an image into RGB pixels (for features), with the same checks.
- :func:`open_checked`, :func:`load_pixels`, :func:`flatten_mode`, :func:`upright` and
  :func:`on_white` are the steps both of them and :mod:`.thumbnails` are made of.

Thumbnails and their cache live in :mod:`.thumbnails`; the names they had here
(:class:`~.thumbnails.Thumbnail`, :func:`~.thumbnails.make_thumbnail`,
:func:`~.thumbnails.placeholder`, :class:`~.thumbnails.ThumbnailCache`, ...) still import from
here.
"""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import warnings
from collections.abc import Iterator
from typing import NamedTuple

from PIL import Image, ImageFile, ImageOps

from .errors import ImageDecodeError

__all__ = [
    "BIG_DECODE",
    "BIG_DECODE_PIXELS",
    "DEFAULT_MAX_PIXELS",
    "FORMAT_SUFFIX",
    "IMAGE_SUFFIXES",
    "MAX_DECODE_PIXELS",
    "MAX_FILE_BYTES",
    "ImageInfo",
    "decode_rgb",
    "file_too_large",
    "flatten_mode",
    "inspect_image",
    "load_pixels",
    "on_white",
    "open_checked",
    "upright",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
"""File name endings taken for images (compared in lower case)."""

FORMAT_SUFFIX = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}
"""Pillow's format name -> the file suffix (without the dot) an image of that format should have."""

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default for Image.MAX_IMAGE_PIXELS

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

BIG_DECODE = threading.Lock()
"""Held while a decode larger than :data:`BIG_DECODE_PIXELS` runs (see there)."""

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


def open_checked(data: bytes, name: str, max_pixels: int) -> tuple[str, ImageFile.ImageFile]:
    """Open (header only) a JPG, PNG or BMP image and check its size; nothing is decoded yet.

    Returns Pillow's format name and the opened image (close it); raises
    :class:`~jupyter_labeler.errors.ImageDecodeError` naming ``name`` for anything else, or for
    more than ``max_pixels``.
    """
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


def load_pixels(im: ImageFile.ImageFile, fmt: str, data: bytes, name: str) -> None:
    """Decode the pixels of ``im`` (opened by :func:`open_checked` from ``data``, of format
    ``fmt``), turning a truncated or damaged stream into ImageDecodeError naming ``name``."""
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
    fmt, im = open_checked(data, name, max_pixels)
    with im:
        width, height = im.size
        with BIG_DECODE if width * height > BIG_DECODE_PIXELS else contextlib.nullcontext():
            load_pixels(im, fmt, data, name)
    return ImageInfo(fmt, width, height)


def flatten_mode(im: Image.Image) -> Image.Image:
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


def on_white(im: Image.Image) -> Image.Image:
    """An RGB image: an RGBA one laid on white, any other mode converted."""
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
    fmt, im = open_checked(data, "", DEFAULT_MAX_PIXELS)
    with im:
        if fmt == "JPEG":
            im.draft("RGB", (side, side))
        if im.size[0] * im.size[1] > MAX_DECODE_PIXELS:
            raise ImageDecodeError("the image is too large to decode")
        load_pixels(im, fmt, data, "")
        flat = flatten_mode(im)
        flat = on_white(flat) if flat.mode == "RGBA" else flat.convert("RGB")
        flat.load()
        return flat


def upright(im: Image.Image) -> Image.Image:
    """``im`` turned as its EXIF orientation says (a camera photo stands upright), or as it is
    when its EXIF cannot be read."""
    # Parsing EXIF can warn about corrupt tags; a bad EXIF block must not hide the picture.
    try:
        with _pillow_warnings_ignored():
            return ImageOps.exif_transpose(im)
    except Exception:
        return im


def file_too_large(nbytes: int | None = None) -> str:
    """Why a file gets no thumbnail: it is larger than :data:`MAX_FILE_BYTES` (``nbytes``, when
    known from a listing; otherwise only that much of it was read)."""
    limit = MAX_FILE_BYTES // 2**20
    size = f"{nbytes / 2**20:,.0f} MB; at most {limit} MB" if nbytes else f"more than {limit} MB"
    return f"the file is too large to be a photo to preview ({size})"
