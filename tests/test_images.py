"""Image checks, thumbnails and the thumbnail cache (jupyter_labeler.images)."""

from __future__ import annotations

import io
import random
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable

import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from jupyter_labeler.errors import ImageDecodeError, StoreUnavailableError
from jupyter_labeler.images import FORMAT_SUFFIX, IMAGE_SUFFIXES, ImageInfo, inspect_image
from jupyter_labeler.thumbnails import Thumbnail, ThumbnailCache, make_thumbnail, placeholder


# -- making test images ----------------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A small image with real content (gradient + noise), so JPEGs are not trivially tiny."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    return Image.blend(base, noise, 0.2)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb, if large)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    return encode(photo(width, height, seed), "JPEG", quality=90)


def decoded(thumb: Thumbnail) -> Image.Image:
    im = Image.open(io.BytesIO(thumb.data))
    im.load()
    return im


def near(color: Iterable[int], expected: Iterable[int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color, expected, strict=True))


# -- inspect_image: what is accepted ---------------------------------------------------------
def test_constants() -> None:
    assert IMAGE_SUFFIXES == (".jpg", ".jpeg", ".png", ".bmp")
    assert FORMAT_SUFFIX == {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_accepts_the_three_formats(fmt: str) -> None:
    info = inspect_image(encode(photo(120, 80), fmt))
    assert info == ImageInfo(fmt, 120, 80)


def test_the_bytes_decide_not_the_name() -> None:
    png = encode(photo(40, 30), "PNG")
    assert inspect_image(png, name="holiday.jpg").format == "PNG"


def test_accepts_bytearray() -> None:
    assert inspect_image(bytearray(jpeg_bytes(64, 48))).width == 64


# -- inspect_image: every reason to refuse ---------------------------------------------------
def truncated_jpeg() -> bytes:
    data = jpeg_bytes()
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = encode(photo(), "PNG")
    return data[: len(data) // 2]


def damaged_png() -> bytes:
    data = bytearray(encode(photo(), "PNG"))
    data[data.find(b"IDAT") + 40] ^= 0xFF
    return bytes(data)


def broken_bmp() -> bytes:
    data = bytearray(encode(photo(40, 30), "BMP"))
    data[14:18] = struct.pack("<I", 7)  # a DIB header size that no BMP version has
    return bytes(data)


SVG = b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'

REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "zero bytes": (lambda: b"", "the file is empty"),
    "text named .jpg": (
        lambda: b"this is not an image, just some notes\n",
        "not a JPG, PNG or BMP image (the file holds text)",
    ),
    "random bytes": (lambda: bytes(range(256)) * 4, "not a JPG, PNG or BMP image"),
    "svg": (lambda: SVG, "SVG images are not supported: use JPG, PNG or BMP"),
    "bare svg": (lambda: b"  <svg width='10'></svg>", "SVG images are not supported"),
    "gif": (lambda: encode(Image.new("P", (8, 8)), "GIF"), "GIF images are not supported"),
    "webp": (lambda: b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\0" * 24, "WEBP images are not supported"),
    "tiff": (lambda: encode(photo(8, 8), "TIFF"), "TIFF images are not supported"),
    "heic": (lambda: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "HEIC images are not supported"),
    "ppm": (lambda: encode(photo(8, 8), "PPM"), "PPM images are not supported"),
    "truncated jpeg": (truncated_jpeg, "the file is cut short: the image data is incomplete"),
    "truncated png": (truncated_png, "the file is cut short"),
    "damaged png": (damaged_png, "the image data is damaged"),
    "jpeg header only": (lambda: b"\xff\xd8\xff\xe0" + b"\0" * 10, "the JPG header is broken"),
    "broken bmp header": (broken_bmp, "the BMP header is broken"),
    "bmp magic only": (lambda: b"BM" + b"\0" * 40, "the BMP header is broken"),
    "png bomb 30000x30000": (
        lambda: png_claiming(30000, 30000),
        "the image is too large: 30000 x 30000 pixels",
    ),
    "png bomb 10000x10000": (
        lambda: png_claiming(10000, 10000),
        "the image is too large: 10000 x 10000 pixels",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusals_say_why_in_plain_words(case: str) -> None:
    make, reason = REFUSED[case]
    with pytest.raises(ImageDecodeError) as caught:
        inspect_image(make(), name="upload.jpg")
    err = caught.value
    assert err.reason.startswith(reason)
    assert err.name == "upload.jpg"
    assert str(err) == f"upload.jpg: {err.reason}"
    # No Pillow wording or traceback leaks into what the user sees.
    for pillow_words in ("cannot identify", "PIL", "Traceback", "decoder", "Errno", "struct"):
        assert pillow_words not in err.reason
    assert err.__cause__ is None


def test_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decompression bomb must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    with pytest.raises(ImageDecodeError, match="too large"):
        inspect_image(png_claiming(12000, 12000))


def test_max_pixels_is_ours_to_choose() -> None:
    data = encode(photo(100, 100), "PNG")
    with pytest.raises(ImageDecodeError, match=r"100 x 100 pixels, more than the 5,000 allowed"):
        inspect_image(data, max_pixels=5_000)
    assert inspect_image(data, max_pixels=10_000).width == 100


def test_load_truncated_images_is_never_switched_on() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageDecodeError):
        inspect_image(truncated_jpeg())
    make_thumbnail(truncated_jpeg())
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncation_is_caught_even_if_someone_else_allows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Training scripts often set this for the whole process; a half image must still be refused.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for data in (truncated_jpeg(), truncated_png()):
        with pytest.raises(ImageDecodeError, match="cut short"):
            inspect_image(data)
    assert inspect_image(jpeg_bytes()).format == "JPEG"


# -- thumbnails ------------------------------------------------------------------------------
def test_jpeg_thumbnail_is_small_and_keeps_aspect() -> None:
    thumb = make_thumbnail(jpeg_bytes(1600, 1200))
    assert thumb.error is None
    assert thumb.ok
    assert (thumb.width, thumb.height) == (160, 120)
    assert inspect_image(thumb.data) == ImageInfo("JPEG", 160, 120)
    assert thumb.nbytes == len(thumb.data) < 16_000


def test_jpeg_thumbnail_uses_dct_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes_after_draft: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: object) -> object:
        result = real_draft(self, mode, size)  # type: ignore[arg-type]
        sizes_after_draft.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    thumb = make_thumbnail(jpeg_bytes(2560, 1920), size=160)
    # 2560 // 160 = 16 -> libjpeg decodes at 1/8 scale: 320 x 240 instead of 2560 x 1920.
    # (thumbnail() asks for a draft again; the second request changes nothing.)
    assert set(sizes_after_draft) == {(320, 240)}
    assert max(thumb.width, thumb.height) <= 160
    assert thumb.nbytes < 16_000


def test_thumbnail_size_and_quality() -> None:
    data = jpeg_bytes(800, 600)
    small = make_thumbnail(data, size=64)
    assert (small.width, small.height) == (64, 48)
    assert make_thumbnail(data, quality=30).nbytes < make_thumbnail(data, quality=90).nbytes
    with pytest.raises(ValueError, match="size"):
        make_thumbnail(data, size=0)
    with pytest.raises(ValueError, match="quality"):
        make_thumbnail(data, quality=101)


def test_small_images_are_not_enlarged() -> None:
    thumb = make_thumbnail(encode(photo(50, 20), "PNG"))
    assert (thumb.width, thumb.height) == (50, 20)


def test_rgba_png_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 50, 100))
    out = decoded(make_thumbnail(encode(im, "PNG")))
    assert out.mode == "RGB"
    assert near(out.getpixel((10, 50)), (255, 0, 0))
    assert near(out.getpixel((90, 50)), (255, 255, 255))


def test_palette_png_with_transparency_table() -> None:
    im = Image.new("P", (64, 64), 1)
    im.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    im.paste(0, (0, 0, 32, 64))
    data = encode(im, "PNG", transparency=bytes([255, 0]))  # index 1 fully transparent
    out = decoded(make_thumbnail(data))
    assert near(out.getpixel((10, 32)), (0, 0, 255))
    assert near(out.getpixel((54, 32)), (255, 255, 255))


def test_palette_png_without_transparency() -> None:
    im = photo(200, 100).convert("P", palette=Image.Palette.ADAPTIVE)
    thumb = make_thumbnail(encode(im, "PNG"))
    assert thumb.ok
    assert (thumb.width, thumb.height) == (160, 80)


def test_greyscale_alpha_and_one_bit() -> None:
    assert decoded(make_thumbnail(encode(Image.new("LA", (30, 30), (0, 0)), "PNG"))).getpixel(
        (15, 15)
    ) == (255, 255, 255)
    one_bit = decoded(make_thumbnail(encode(Image.new("1", (30, 30), 1), "BMP")))
    assert near(one_bit.getpixel((15, 15)), (255, 255, 255))


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    im = Image.frombytes("I;16", (64, 64), (32768).to_bytes(2, "little") * 64 * 64)
    out = decoded(make_thumbnail(encode(im, "PNG")))
    assert near(out.getpixel((30, 30)), (128, 128, 128), tolerance=4)


def test_bmp_thumbnail() -> None:
    thumb = make_thumbnail(encode(photo(320, 240), "BMP"))
    assert (thumb.width, thumb.height) == (160, 120)
    assert inspect_image(thumb.data).format == "JPEG"


def test_cmyk_jpeg_comes_out_rgb() -> None:
    data = encode(Image.new("CMYK", (100, 80), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    out = decoded(make_thumbnail(data))
    assert out.mode == "RGB"
    assert near(out.getpixel((50, 40)), (255, 0, 0), tolerance=20)


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (200, 100), (255, 0, 0))
    im.paste((0, 0, 255), (100, 0, 200, 100))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    thumb = make_thumbnail(encode(im, "JPEG", exif=exif.tobytes()))
    assert (thumb.width, thumb.height) == (80, 160)
    out = decoded(thumb)
    assert near(out.getpixel((40, 20)), (255, 0, 0), tolerance=20)  # left went to the top
    assert near(out.getpixel((40, 140)), (0, 0, 255), tolerance=20)


def test_corrupt_exif_does_not_hide_the_picture() -> None:
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01\x03\x00\xff\xff\xff\x00"
    thumb = make_thumbnail(encode(photo(200, 100), "JPEG", exif=exif))
    assert thumb.ok
    assert (thumb.width, thumb.height) == (160, 80)


@pytest.mark.parametrize("case", ["zero bytes", "svg", "truncated jpeg", "png bomb 30000x30000"])
def test_broken_image_gives_placeholder_never_raises(case: str) -> None:
    make, reason = REFUSED[case]
    thumb = make_thumbnail(make())
    assert not thumb.ok
    assert thumb.error is not None
    assert thumb.error.startswith(reason)
    assert (thumb.width, thumb.height) == (160, 160)
    assert inspect_image(thumb.data).format == "JPEG"


def test_placeholder_is_a_grey_tile_made_once_per_size() -> None:
    a = placeholder("gone")
    b = placeholder("also gone")
    assert a.data is b.data
    assert (a.error, b.error) == ("gone", "also gone")
    tile = decoded(a)
    assert tile.size == (160, 160)
    corner = tile.getpixel((3, 3))
    assert near(corner, (224, 224, 224), tolerance=6)
    assert len(tile.getcolors(maxcolors=4096) or []) > 2  # a mark on it, not a flat square
    small = placeholder("x", size=64)
    assert (small.width, small.height) == (64, 64)
    assert decoded(small).size == (64, 64)


def test_thumbnail_is_frozen_and_readable() -> None:
    thumb = make_thumbnail(jpeg_bytes(64, 48))
    with pytest.raises(AttributeError):
        thumb.width = 3  # type: ignore[misc]
    assert "64x48" in repr(thumb)


# -- the cache -------------------------------------------------------------------------------
class FakeStore:
    """A read_many that counts its calls and can fail or block on demand."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = dict(blobs)
        self.calls: list[list[str]] = []
        self.fail_once: set[str] = set()
        self.fail_all_once = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def read_many(self, keys: list[str]) -> dict[str, bytes | Exception]:
        with self._lock:
            self.calls.append(list(keys))
            fail_all, self.fail_all_once = self.fail_all_once, False
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if fail_all:
            raise StoreUnavailableError("cannot reach the store at s3://pics: timed out")
        out: dict[str, bytes | Exception] = {}
        for key in keys:
            if key in self.fail_once:
                self.fail_once.discard(key)
                out[key] = StoreUnavailableError(f"cannot reach the store at s3://pics/{key}")
            elif key in self.blobs:
                out[key] = self.blobs[key]
            else:
                out[key] = FileNotFoundError(key)
        return out

    @property
    def keys_read(self) -> list[str]:
        return [key for call in self.calls for key in call]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore({f"img_{i:02d}.jpg": jpeg_bytes(200, 150, seed=i) for i in range(40)})


@pytest.fixture
def cache(store: FakeStore) -> Iterable[ThumbnailCache]:
    with ThumbnailCache(store.read_many, workers=2) as c:
        yield c


def keys(*numbers: int) -> list[str]:
    return [f"img_{i:02d}.jpg" for i in numbers]


def test_misses_are_fetched_in_one_batch(cache: ThumbnailCache, store: FakeStore) -> None:
    got = cache.get(keys(0, 1, 2, 3, 4))
    assert list(got) == keys(0, 1, 2, 3, 4)
    assert all(t.ok and t.width == 160 for t in got.values())
    assert store.calls == [keys(0, 1, 2, 3, 4)]
    assert cache.stats.misses == 5
    assert cache.stats.hits == 0
    assert cache.stats.entries == 5
    assert cache.stats.bytes == sum(t.nbytes for t in got.values())


def test_hits_do_not_read(cache: ThumbnailCache, store: FakeStore) -> None:
    first = cache.get(keys(0, 1, 2))
    again = cache.get(keys(2, 1, 0))
    assert store.calls == [keys(0, 1, 2)]
    assert list(again) == keys(2, 1, 0)
    assert all(again[k] is first[k] for k in first)
    assert cache.stats.hits == 3
    cache.get(keys(0, 1, 5, 6))
    assert store.calls[-1] == keys(5, 6)  # only the misses of the mix, still one call
    assert len(store.calls) == 2


def test_duplicate_keys_are_read_once(cache: ThumbnailCache, store: FakeStore) -> None:
    got = cache.get(keys(3, 3, 4, 3))
    assert list(got) == keys(3, 4)
    assert store.calls == [keys(3, 4)]


def test_empty_get_reads_nothing(cache: ThumbnailCache, store: FakeStore) -> None:
    assert cache.get([]) == {}
    assert store.calls == []


def test_byte_bound_evicts_least_recently_used() -> None:
    same = jpeg_bytes(200, 150)
    store = FakeStore(dict.fromkeys("abcde", same))
    one = make_thumbnail(same).nbytes
    with ThumbnailCache(store.read_many, max_bytes=3 * one) as cache:
        cache.get(["a", "b", "c"])
        assert cache.stats.bytes == 3 * one
        cache.get(["a"])  # a is now the most recently used, b the least
        cache.get(["d"])
        assert "b" not in cache
        assert all(k in cache for k in "acd")
        assert cache.stats == (1, 4, 3 * one, 3)
        cache.get(["e"])
        assert "c" not in cache
        assert len(cache) == 3
        cache.get(["b"])
        assert store.calls[-1] == ["b"]  # evicted means fetched again


def test_thumbnail_larger_than_the_bound_is_returned_not_kept(store: FakeStore) -> None:
    with ThumbnailCache(store.read_many, max_bytes=100) as cache:
        got = cache.get(keys(0))
        assert got[keys(0)[0]].ok
        assert cache.stats.entries == 0
        assert cache.stats.bytes == 0


def test_prefetch_then_get_does_not_fetch_twice(cache: ThumbnailCache, store: FakeStore) -> None:
    store.gate = threading.Event()
    future = cache.prefetch(keys(10, 11, 12))
    assert store.entered.wait(5)
    # get() for keys being prefetched must wait for that batch, not start its own.
    threading.Timer(0.05, store.gate.set).start()
    got = cache.get(keys(10, 11, 12, 13))
    assert store.calls == [keys(10, 11, 12), keys(13)]
    assert future.result(5) == {k: got[k] for k in keys(10, 11, 12)}
    assert all(t.ok for t in got.values())


def test_prefetch_fills_the_cache(cache: ThumbnailCache, store: FakeStore) -> None:
    cache.prefetch(keys(20, 21)).result(5)
    cache.get(keys(20, 21))
    assert store.calls == [keys(20, 21)]
    assert cache.stats.hits == 2
    done = cache.prefetch(keys(20))  # all cached: nothing to do in the background
    assert done.done()
    assert done.result()[keys(20)[0]].ok


def test_failed_reads_give_placeholders_and_are_retried(
    cache: ThumbnailCache, store: FakeStore
) -> None:
    store.fail_once.add(keys(1)[0])
    got = cache.get(keys(0, 1, 99))
    assert got[keys(0)[0]].ok
    broken, missing = got[keys(1)[0]], got[keys(99)[0]]
    assert broken.error == "cannot reach the store at s3://pics/img_01.jpg"
    assert missing.error == "img_99.jpg"
    assert (broken.width, broken.height) == (160, 160)
    assert keys(1)[0] not in cache
    again = cache.get(keys(0, 1))
    assert again[keys(1)[0]].ok  # healed
    assert store.calls[-1] == keys(1)


def test_read_many_raising_gives_placeholders_and_heals(
    cache: ThumbnailCache, store: FakeStore
) -> None:
    store.fail_all_once = True
    got = cache.get(keys(0, 1))
    assert [t.error for t in got.values()] == ["cannot reach the store at s3://pics: timed out"] * 2
    assert cache.stats.entries == 0
    assert all(t.ok for t in cache.get(keys(0, 1)).values())
    assert len(store.calls) == 2


def test_read_many_leaving_a_key_out(store: FakeStore) -> None:
    def forgetful(keys: list[str]) -> dict[str, bytes | Exception]:
        return {}

    with ThumbnailCache(forgetful) as cache:
        thumb = cache.get(["a.jpg"])["a.jpg"]
        assert thumb.error == "the store returned nothing for this image"
        assert "a.jpg" not in cache


def test_corrupt_image_placeholder_is_cached(store: FakeStore) -> None:
    store.blobs["bad.jpg"] = b"not an image"
    with ThumbnailCache(store.read_many) as cache:
        first = cache.get(["bad.jpg"])["bad.jpg"]
        second = cache.get(["bad.jpg"])["bad.jpg"]
        assert first.error == second.error == "not a JPG, PNG or BMP image (the file holds text)"
        assert store.calls == [["bad.jpg"]]


def test_invalidate_and_clear(cache: ThumbnailCache, store: FakeStore) -> None:
    cache.get(keys(0, 1, 2))
    cache.invalidate(keys(1))
    assert keys(1)[0] not in cache
    cache.get(keys(0, 1, 2))
    assert store.calls[-1] == keys(1)
    cache.clear()
    assert cache.stats.entries == 0
    assert cache.stats.bytes == 0
    cache.get(keys(0))
    assert store.calls[-1] == keys(0)


def test_invalidate_during_a_load_keeps_the_stale_result_out(
    cache: ThumbnailCache, store: FakeStore
) -> None:
    store.gate = threading.Event()
    future = cache.prefetch(keys(5))
    assert store.entered.wait(5)
    cache.invalidate(keys(5))  # the file changed while its old bytes were being read
    store.gate.set()
    assert future.result(5)[keys(5)[0]].ok
    assert keys(5)[0] not in cache
    cache.get(keys(5))
    assert store.calls == [keys(5), keys(5)]


def test_thread_safety_smoke(store: FakeStore) -> None:
    one = make_thumbnail(store.blobs[keys(0)[0]]).nbytes
    errors: list[BaseException] = []
    with ThumbnailCache(store.read_many, max_bytes=12 * one, workers=3) as cache:

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for _ in range(25):
                    wanted = keys(*rng.sample(range(40), 6))
                    if rng.random() < 0.3:
                        cache.prefetch(wanted)
                    elif rng.random() < 0.1:
                        cache.invalidate(wanted[:2])
                    else:
                        got = cache.get(wanted)
                        assert list(got) == wanted
                        assert all(t.ok for t in got.values())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        stats = cache.stats
        assert stats.bytes <= 12 * one
        assert stats.entries == len(cache) <= 12
        assert stats.hits + stats.misses > 0


def test_close(store: FakeStore) -> None:
    cache = ThumbnailCache(store.read_many)
    cache.get(keys(0))
    cache.prefetch(keys(1, 2))
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        cache.get(keys(0))
    with pytest.raises(RuntimeError, match="closed"):
        cache.prefetch(keys(3))


def test_close_releases_waiters_of_cancelled_prefetches(store: FakeStore) -> None:
    store.gate = threading.Event()
    cache = ThumbnailCache(store.read_many)
    running = [cache.prefetch(keys(i)) for i in range(2)]  # both background threads busy
    queued = cache.prefetch(keys(9))  # waits in the queue, will be cancelled
    assert store.entered.wait(5)
    threading.Timer(0.05, store.gate.set).start()
    started = time.monotonic()
    cache.close()
    assert time.monotonic() - started < 5
    assert all(f.result(5) for f in running)
    assert queued.cancelled() or queued.result(5)


def test_cache_arguments_are_checked(store: FakeStore) -> None:
    with pytest.raises(TypeError):
        ThumbnailCache("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bytes"):
        ThumbnailCache(store.read_many, max_bytes=-1)
    with pytest.raises(ValueError, match="workers"):
        ThumbnailCache(store.read_many, workers=0)
    with pytest.raises(ValueError, match="size"):
        ThumbnailCache(store.read_many, size=2)
