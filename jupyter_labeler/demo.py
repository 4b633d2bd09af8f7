"""Generated image datasets: a small classification task to try the labeler on, and big
photo-like JPEGs for benchmarks.

Everything is drawn with Pillow from a seeded :class:`random.Random`, so the same seed gives
byte-identical files (with the same Pillow build) and no download is ever needed.

>>> from jupyter_labeler.demo import make_demo_images
>>> summary = make_demo_images("demo-images", count=300)  # doctest: +SKIP
>>> summary["classes"]  # doctest: +SKIP
{'city': 43, 'desert': 43, 'flowers': 43, 'forest': 43, 'night_sky': 43, 'sea': 45, 'sunset': 43}
"""

from __future__ import annotations

import io
import itertools
import math
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter

__all__ = ["DEMO_CLASSES", "make_demo_images", "make_large_jpegs"]

DEMO_CLASSES = ("sunset", "forest", "sea", "night_sky", "desert", "flowers", "city")
"""The classes of :func:`make_demo_images`, each a kind of scene easy to tell apart by eye."""

RGB = tuple[int, int, int]

_SIZES = ((320, 240), (400, 300), (480, 360), (512, 384), (640, 480), (480, 320), (600, 400))
_PORTRAIT_SIZES = ((240, 320), (300, 400), (360, 480))
_BMP_SIZE = (320, 240)  # BMP is uncompressed (230 KB at this size): keep them small


# -- drawing helpers --------------------------------------------------------------------------
def _jitter(rng: random.Random, color: RGB, spread: int) -> RGB:
    r, g, b = (min(255, max(0, c + rng.randint(-spread, spread))) for c in color)
    return (r, g, b)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(size: tuple[int, int], stops: Sequence[tuple[float, RGB]]) -> Image.Image:
    """A vertical gradient through ``stops`` (position 0..1, colour), built as one column."""
    height = size[1]
    column = bytearray()
    for y in range(height):
        pos = y / max(1, height - 1)
        for (p0, c0), (p1, c1) in itertools.pairwise(stops):
            if pos <= p1 or (p1, c1) == stops[-1]:
                t = 0.0 if p1 <= p0 else min(1.0, max(0.0, (pos - p0) / (p1 - p0)))
                column.extend(_mix(c0, c1, t))
                break
    return Image.frombytes("RGB", (1, height), bytes(column)).resize(size, Image.Resampling.NEAREST)


def _ridge(
    rng: random.Random, width: int, base: float, amplitude: float, waves: int = 3
) -> list[tuple[float, float]]:
    """Points of a smooth random skyline (hills, dunes) from x=0 to x=width."""
    parts = [
        (rng.uniform(0.5, 1.0) / (k + 1), rng.uniform(0.6, 1.6) * (k + 1), rng.uniform(0, 6.3))
        for k in range(waves)
    ]
    step = max(4, width // 48)
    points = []
    for x in range(0, width + step, step):
        u = x / width * math.pi * 2
        y = base + amplitude * sum(a * math.sin(f * u + p) for a, f, p in parts)
        points.append((float(x), y))
    return points


def _finish(rng: random.Random, image: Image.Image, grain: int = 10) -> Image.Image:
    """Soften the drawn edges, add uneven light and film grain: closer to a photo."""
    width, height = image.size
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.1)))
    # Uneven light: a 4x3 random field blown up smoothly.
    light = Image.frombytes("L", (4, 3), rng.randbytes(12))
    light = light.point([16 + v // 8 for v in range(256)]).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    # Grain: one random byte per pixel, mapped to 0..2*grain (monochrome, like sensor noise).
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    noise = noise.point([v * (2 * grain + 1) // 256 for v in range(256)])
    shift = ImageChops.add(light, noise)  # centred on 32 + grain
    shift_rgb = Image.merge("RGB", (shift, shift, shift))
    return ImageChops.add(image, shift_rgb, scale=1.0, offset=-(32 + grain))


def _sky(
    rng: random.Random, size: tuple[int, int], horizon: float, top: RGB, low: RGB
) -> Image.Image:
    return _gradient(
        size, [(0.0, _jitter(rng, top, 15)), (horizon, _jitter(rng, low, 15)), (1.0, low)]
    )


# -- scenes -------------------------------------------------------------------------------------
def _sunset(rng: random.Random, size: tuple[int, int], *, over_sea: bool = False) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.55, 0.72)
    hy = horizon * height
    image = _gradient(
        size,
        [
            (0.0, _jitter(rng, (60, 35, 100), 20)),
            (horizon * 0.55, _jitter(rng, (230, 110, 90), 20)),
            (horizon, _jitter(rng, (255, 190, 100), 15)),
            (1.0, (40, 25, 40)),
        ],
    )
    draw = ImageDraw.Draw(image)
    r = height * rng.uniform(0.05, 0.11)
    cx, cy = rng.uniform(0.2, 0.8) * width, hy - r * rng.uniform(-0.2, 0.9)
    draw.ellipse((cx - r * 1.6, cy - r * 1.6, cx + r * 1.6, cy + r * 1.6), fill=(255, 170, 100))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_jitter(rng, (255, 225, 150), 10))
    for _ in range(rng.randint(2, 6)):  # thin clouds lit from below
        y = rng.uniform(0.1, 0.8) * hy
        x = rng.uniform(-0.2, 0.9) * width
        draw.ellipse(
            (x, y, x + rng.uniform(0.15, 0.45) * width, y + rng.uniform(4, 12)),
            fill=_jitter(rng, (150, 70, 90), 25),
        )
    if over_sea:
        draw.rectangle((0, hy, width, height), fill=_jitter(rng, (70, 40, 70), 10))
        for _ in range(rng.randint(40, 70)):  # the sun's path on the water
            y = rng.uniform(hy + 2, height)
            spread = r * (1 + 2 * (y - hy) / (height - hy))
            x = cx + rng.uniform(-spread, spread)
            draw.line((x, y, x + rng.uniform(6, 25), y), fill=(255, 190, 110), width=2)
        for _ in range(rng.randint(20, 40)):
            y = rng.uniform(hy + 2, height)
            x = rng.uniform(0, width)
            draw.arc((x, y, x + 30, y + 8), 200, 340, fill=(120, 70, 100), width=1)
    else:
        ridge = _ridge(rng, width, hy + height * 0.02, height * 0.06)
        draw.polygon([*ridge, (width, height), (0, height)], fill=_jitter(rng, (30, 18, 30), 8))
    return image


def _forest(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _sky(rng, size, 0.35, (150, 190, 220), (200, 215, 210))
    draw = ImageDraw.Draw(image)
    ground = height * rng.uniform(0.55, 0.7)
    draw.rectangle((0, ground, width, height), fill=_jitter(rng, (50, 80, 35), 12))
    trees = rng.randint(18, 34)
    for k in range(trees):  # back to front: far trees small and pale
        depth = k / trees
        base = ground + depth * (height - ground) * 0.9
        tall = height * (0.25 + 0.45 * depth) * rng.uniform(0.8, 1.2)
        half = tall * rng.uniform(0.18, 0.28)
        x = rng.uniform(-0.05, 1.05) * width
        trunk = max(2, half * 0.18)
        draw.rectangle((x - trunk, base - tall * 0.2, x + trunk, base), fill=(80, 55, 35))
        green = _mix(_jitter(rng, (40, 110, 50), 25), (120, 160, 140), 0.5 * (1 - depth))
        for tier in range(3):
            top = base - tall + tier * tall * 0.22
            spread = half * (0.6 + 0.2 * tier)
            draw.polygon(
                [(x, top), (x - spread, top + tall * 0.38), (x + spread, top + tall * 0.38)],
                fill=_jitter(rng, green, 8),
            )
    return image


def _sea(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    horizon = rng.uniform(0.35, 0.55)
    hy = horizon * height
    image = _gradient(
        size,
        [
            (0.0, _jitter(rng, (90, 150, 215), 20)),
            (horizon, _jitter(rng, (200, 225, 240), 10)),
            (horizon + 0.001, _jitter(rng, (40, 110, 170), 15)),
            (1.0, _jitter(rng, (15, 55, 110), 15)),
        ],
    )
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(0, 4)):  # clouds
        x, y = rng.uniform(0, width), rng.uniform(0.05, 0.7) * hy
        for _ in range(4):
            dx, dy, rr = rng.uniform(-30, 30), rng.uniform(-8, 8), rng.uniform(10, 22)
            draw.ellipse(
                (x + dx - rr, y + dy - rr * 0.6, x + dx + rr, y + dy + rr * 0.6),
                fill=(245, 248, 250),
            )
    for _ in range(rng.randint(60, 110)):  # wave crests, bigger nearer the viewer
        y = rng.uniform(hy + 3, height)
        near = (y - hy) / (height - hy)
        span = 8 + 50 * near
        x = rng.uniform(-span, width)
        shade = _mix((140, 190, 225), (235, 245, 250), rng.random())
        draw.arc((x, y, x + span, y + span * 0.3), 190, 350, fill=shade, width=1 + int(2 * near))
    if rng.random() < 0.4:  # a sail on the horizon
        x = rng.uniform(0.1, 0.9) * width
        s = height * rng.uniform(0.03, 0.07)
        draw.polygon([(x, hy - s * 1.6), (x, hy), (x + s, hy)], fill=(250, 250, 245))
    return image


def _night_sky(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    top = _jitter(rng, (8, 10, 30), 6)
    image = _gradient(size, [(0.0, top), (1.0, _jitter(rng, (30, 35, 75), 10))])
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(90, 220)):
        x, y = rng.uniform(0, width), rng.uniform(0, height * 0.85)
        light = rng.randint(150, 255)
        star = (light, light, min(255, light + 20))
        if rng.random() < 0.12:
            draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=star)
        else:
            draw.point((x, y), fill=star)
    r = height * rng.uniform(0.05, 0.1)
    cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.12, 0.45) * height
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_jitter(rng, (235, 235, 210), 10))
    if rng.random() < 0.6:  # a crescent: cover part of the moon with sky
        off = r * rng.uniform(0.35, 0.7)
        sky = _mix(top, (30, 35, 75), cy / height)
        draw.ellipse((cx - r + off, cy - r - off * 0.3, cx + r + off, cy + r - off * 0.3), fill=sky)
    if rng.random() < 0.7:
        ridge = _ridge(rng, width, height * rng.uniform(0.82, 0.9), height * 0.04)
        draw.polygon([*ridge, (width, height), (0, height)], fill=(5, 5, 10))
    return image


def _desert(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _sky(rng, size, 0.5, (110, 170, 225), (230, 225, 205))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.6:
        r = height * rng.uniform(0.03, 0.06)
        cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.08, 0.3) * height
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 250, 225))
    sand = _jitter(rng, (215, 170, 105), 15)
    layers = rng.randint(3, 5)
    for k in range(layers):  # far dunes pale, near dunes warm, each with a shaded crest
        base = height * (0.42 + 0.5 * k / layers) + rng.uniform(-10, 10)
        ridge = _ridge(rng, width, base, height * rng.uniform(0.03, 0.08))
        color = _mix(sand, (240, 215, 175), 0.5 * (1 - k / layers))
        draw.polygon([*ridge, (width, height), (0, height)], fill=_jitter(rng, color, 6))
        draw.line(ridge, fill=_mix(color, (120, 80, 40), 0.35), width=2)
    return image


_PETALS = (
    (220, 40, 50),
    (240, 120, 170),
    (250, 210, 40),
    (150, 70, 190),
    (250, 250, 245),
    (250, 140, 30),
)


def _flowers(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _gradient(
        size,
        [(0.0, _jitter(rng, (70, 140, 60), 15)), (1.0, _jitter(rng, (35, 90, 35), 12))],
    )
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(120, 220)):  # grass blades
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        draw.line(
            (x, y, x + rng.uniform(-4, 4), y - rng.uniform(6, 18)),
            fill=_jitter(rng, (60, 130, 50), 25),
        )
    palette = rng.sample(_PETALS, rng.randint(1, 3))
    for _ in range(rng.randint(12, 35)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = height * rng.uniform(0.025, 0.06) * (0.6 + y / height)
        color = _jitter(rng, rng.choice(palette), 20)
        petals = rng.randint(5, 7)
        turn = rng.uniform(0, math.pi)
        for p in range(petals):
            a = turn + 2 * math.pi * p / petals
            px, py = x + math.cos(a) * r * 0.8, y + math.sin(a) * r * 0.8
            draw.ellipse((px - r * 0.55, py - r * 0.55, px + r * 0.55, py + r * 0.55), fill=color)
        draw.ellipse((x - r * 0.35, y - r * 0.35, x + r * 0.35, y + r * 0.35), fill=(235, 190, 40))
    return image


def _city(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    dusk = rng.random() < 0.4
    if dusk:
        image = _sky(rng, size, 0.7, (30, 40, 90), (230, 140, 90))
    else:
        image = _sky(rng, size, 0.7, (110, 160, 220), (200, 220, 235))
    draw = ImageDraw.Draw(image)
    street = height * rng.uniform(0.85, 0.93)
    for row in range(2):  # a far row of pale blocks, then the near row
        x = rng.uniform(-20, 0)
        while x < width:
            w = width * rng.uniform(0.06, 0.15)
            tall = height * rng.uniform(0.25, 0.55 if row == 0 else 0.8)
            top = street - tall
            grey = rng.randint(70, 150) if row else rng.randint(140, 180)
            tint = rng.choice(((0, 0, 0), (15, 5, -5), (-5, 0, 10)))
            wall = (grey + tint[0], grey + tint[1], grey + tint[2])
            draw.rectangle((x, top, x + w, street), fill=wall)
            if row:
                lit = (250, 220, 120) if dusk else (170, 200, 225)
                dark = _mix(wall, (20, 25, 35), 0.6)
                wy = top + 6
                while wy < street - 10:
                    wx = x + 4
                    while wx < x + w - 6:
                        on = rng.random() < (0.5 if dusk else 0.7)
                        draw.rectangle((wx, wy, wx + 4, wy + 6), fill=lit if on else dark)
                        wx += 9
                    wy += 12
            x += w + rng.uniform(0, 10)
    draw.rectangle((0, street, width, height), fill=(55, 55, 60))
    return image


_SCENES: dict[str, Callable[[random.Random, tuple[int, int]], Image.Image]] = {
    "sunset": _sunset,
    "forest": _forest,
    "sea": _sea,
    "night_sky": _night_sky,
    "desert": _desert,
    "flowers": _flowers,
    "city": _city,
}


# -- the demo dataset ---------------------------------------------------------------------------
def _format_of(index: int) -> str:
    # Fixed by position, not drawn at random, so a small demo still has every format.
    if index % 50 == 7:
        return "bmp"
    if index % 8 == 3:
        return "png"
    return "jpg"


def _render_one(seed: int, index: int, scene: str, fmt: str) -> bytes:
    rng = random.Random(f"jupyter-labeler-demo:{seed}:{index}")
    if fmt == "bmp":
        size = _BMP_SIZE
    elif rng.random() < 0.12:
        size = rng.choice(_PORTRAIT_SIZES)
    else:
        size = rng.choice(_SIZES)
    image = (
        _sunset(rng, size, over_sea=True) if scene == "sunset+sea" else _SCENES[scene](rng, size)
    )
    image = _finish(rng, image)
    out = io.BytesIO()
    if fmt == "jpg":
        image.save(out, "JPEG", quality=rng.randint(80, 92))
    elif fmt == "png":
        # compress_level 1: a noisy photo barely shrinks at higher levels, it only gets slower.
        image.save(out, "PNG", compress_level=1)
    else:
        image.save(out, "BMP")
    return out.getvalue()


def make_demo_images(
    folder: str | os.PathLike[str],
    *,
    count: int = 300,
    seed: int = 0,
    labeled_fraction: float = 0.4,
) -> dict[str, Any]:
    """Write a demo image-classification dataset of ``count`` images into a local ``folder``.

    Seven classes of scenes (:data:`DEMO_CLASSES`: sunset, forest, sea, night_sky, desert,
    flowers, city), drawn with random layouts, colours and film grain at sizes from 320x240 to
    640x480. Mostly JPG, one in eight PNG, one in fifty a small BMP. Files are named
    ``img_0001.jpg`` and so on; the last quarter goes into the subfolder ``batch2/``.

    About ``labeled_fraction`` of the images get a ``.txt`` sidecar of the same name beside
    them, one label a line (the ModelArts convention, e.g. ``img_0042.txt`` beside
    ``img_0042.jpg``), so that synchronizing the folder starts with some images labeled. Two
    of the images (from 10 up) are sunsets over the sea and carry both ``sunset`` and ``sea``.
    An unlabeled image's stale sidecar from an earlier run is removed; other files are left
    alone.

    The same ``seed`` always gives byte-identical files. Returns a summary::

        {"folder": ..., "images": 300, "labeled": 120, "multi_label": 2,
         "classes": {"city": 43, ...},        # images per class (true classes, all images)
         "formats": {"jpg": 256, "png": 38, "bmp": 6},
         "truth": {"img_0001.jpg": ["forest"], "batch2/img_0226.png": ["sea"], ...},
         "labels": {...}}                     # the same, for the images given a sidecar
    """
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number, 0 or more, not {count!r}")
    if not 0.0 <= labeled_fraction <= 1.0:
        raise ValueError(f"labeled_fraction must be from 0 to 1, not {labeled_fraction!r}")
    root = Path(folder)
    rng = random.Random(f"jupyter-labeler-demo:{seed}")

    # Balanced classes in a shuffled order, so every class appears in every part of the folder.
    scenes = [DEMO_CLASSES[i % len(DEMO_CLASSES)] for i in range(count)]
    rng.shuffle(scenes)
    truth_of = [[scene] for scene in scenes]
    multi = [i for i, scene in enumerate(scenes) if scene == "sunset"][:2] if count >= 10 else []
    for i in multi:
        scenes[i] = "sunset+sea"
        truth_of[i] = ["sunset", "sea"]
    labeled = set(rng.sample(range(count), round(count * labeled_fraction)))
    missing = [i for i in multi if i not in labeled and labeled_fraction > 0]
    spare = sorted(labeled - set(multi))
    for i in missing:  # the two-label images must show up labeled: swap them in
        if spare:
            labeled.discard(spare.pop())
        labeled.add(i)

    names = []
    for i in range(count):
        fmt = _format_of(i)
        sub = "batch2/" if i >= count - count // 4 else ""
        names.append(f"{sub}img_{i + 1:04d}.{fmt}")

    def render(i: int) -> bytes:
        return _render_one(seed, i, scenes[i], _format_of(i))

    # Threads help: Pillow releases the GIL while it blurs and encodes.
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        blobs = list(pool.map(render, range(count)))

    root.mkdir(parents=True, exist_ok=True)
    if any(name.startswith("batch2/") for name in names):
        (root / "batch2").mkdir(exist_ok=True)
    formats = {"jpg": 0, "png": 0, "bmp": 0}
    classes = dict.fromkeys(sorted(DEMO_CLASSES), 0)
    truth: dict[str, list[str]] = {}
    sidecars: dict[str, list[str]] = {}
    for i, (name, data) in enumerate(zip(names, blobs, strict=True)):
        path = root / name
        path.write_bytes(data)
        formats[name.rsplit(".", 1)[1]] += 1
        for label in truth_of[i]:
            classes[label] += 1
        truth[name] = list(truth_of[i])
        sidecar = path.with_suffix(".txt")
        if i in labeled:
            sidecar.write_text("".join(f"{label}\n" for label in truth_of[i]), encoding="utf-8")
            sidecars[name] = list(truth_of[i])
        elif sidecar.exists():
            sidecar.unlink()
    return {
        "folder": str(root),
        "images": count,
        "labeled": len(sidecars),
        "multi_label": len(multi),
        "classes": classes,
        "formats": formats,
        "truth": truth,
        "labels": sidecars,
    }


# -- benchmark photos ---------------------------------------------------------------------------
def _large_jpeg(seed: int, index: int, megapixels: float, quality: int) -> bytes:
    rng = random.Random(f"jupyter-labeler-photo:{seed}:{index}")
    width = max(16, round(math.sqrt(megapixels * 1e6 * 4 / 3)))
    height = max(12, round(width * 3 / 4))
    horizon = rng.uniform(0.3, 0.7)
    image = _gradient(
        (width, height),
        [
            (0.0, _jitter(rng, (110, 150, 200), 40)),
            (horizon, _jitter(rng, (200, 200, 190), 30)),
            (1.0, _jitter(rng, (70, 90, 50), 40)),
        ],
    )
    # Colour blotches at several scales: the low and middle frequencies of a real scene.
    for cells in (6, 24, 96):
        field = Image.frombytes(
            "RGB", (cells, cells * 3 // 4), rng.randbytes(cells * (cells * 3 // 4) * 3)
        )
        field = field.resize((width, height), Image.Resampling.BICUBIC)
        image = Image.blend(image, field, 0.22 if cells == 6 else 0.12)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(20, 40)):  # a few hard edges, like objects
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.02, 0.15) * width
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=_jitter(rng, (128, 128, 128), 100))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    # Per-channel sensor noise: what makes photos compress to a few hundred KB.
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    amplitude = 9
    noise = noise.point([v * (2 * amplitude + 1) // 256 for v in range(256)] * 3)
    image = ImageChops.add(image, noise, scale=1.0, offset=-amplitude)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def make_large_jpegs(
    target: str | os.PathLike[str] | Callable[[str, bytes], object],
    count: int,
    *,
    megapixels: float = 2.0,
    seed: int = 0,
    quality: int = 88,
) -> dict[str, int]:
    """Write ``count`` photo-like JPEGs of about ``megapixels`` (4:3) for benchmarks.

    Gradients, colour blotches at several scales, some shapes and per-channel noise make them
    compress like camera photos: roughly 300-600 KB at 2 MP. ``target`` is a local folder, or
    a callable ``write(name, data)`` (for example ``lambda n, d: fs.pipe_file(f"bucket/{n}", d)``
    to put them in an object store). Names are ``photo_0001.jpg`` and so on. Deterministic for a
    given ``seed``. Returns ``{name: size in bytes}``.
    """
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number, 0 or more, not {count!r}")
    if not 0.01 <= megapixels <= 100:
        raise ValueError(f"megapixels must be from 0.01 to 100, not {megapixels!r}")
    if callable(target):
        write = target
    else:
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)

        def write(name: str, data: bytes) -> object:
            return (folder / name).write_bytes(data)

    written: dict[str, int] = {}

    def one(i: int) -> tuple[str, bytes]:
        return f"photo_{i + 1:04d}.jpg", _large_jpeg(seed, i, megapixels, quality)

    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        for name, data in pool.map(one, range(count)):
            write(name, data)
            written[name] = len(data)
    return written
