"""Vectors of images: the built-in descriptor, perceptual hashes, and embedding a batch.

Bytes come in, numbers go out; where the vectors are kept is :mod:`.feature_files`' business and
which images need them :mod:`.feature_compute`'s (see :mod:`.features` for the whole).

The built-in embedder needs no model and no download: a descriptor of a 32x32 reduction of the
image (JPEGs scaled down while decoding): a joint RGB colour histogram (4x4x4 bins), a coarse
grey layout (8x8), and a histogram of gradient orientations (8 orientations in 4x4 cells),
each block L2-normalised, then the whole: 256 numbers. Any callable taking a list of PIL images
and returning a 2-D array (an :data:`Embedder`) plugs in instead. Every batch also gets, whatever
the embedder, the SHA-256 (first 128 bits) and a 64-bit DCT perceptual hash of each image.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageDecodeError
from .images import decode_rgb

__all__ = [
    "BUILTIN",
    "BUILTIN_DIM",
    "MAX_DIM",
    "MODEL_IMAGE_SIZE",
    "Embedder",
    "builtin_embedder",
    "describe",
    "embed",
    "perceptual_hashes",
]

# Named as features.py named it before the split: users filter logs by this name.
log = logging.getLogger("jupyter_labeler.features")

BUILTIN = "builtin"
"""The name of the built-in embedder (and of the folder of its features)."""
BUILTIN_DIM = 256  # the built-in descriptor's numbers a vector
MAX_DIM = 4096  # numbers a vector, at most, whatever the embedder
# The side of the image a callable embedder gets at most (models resize to ~224 anyway).
MODEL_IMAGE_SIZE = 256
_GRID = 32  # the built-in descriptor and the perceptual hash work on a 32x32 reduction

Embedder = Callable[[list[Image.Image]], Any]
"""A callable taking a list of PIL images and returning a 2-D array, one row per image."""


def _decode(data: bytes | Exception, side: int) -> Image.Image:
    """An RGB image fitting ``side`` x ``side`` at least roughly (JPEGs scaled while decoding)."""
    if isinstance(data, Exception):
        raise ImageDecodeError(f"cannot be read ({data})")
    return decode_rgb(data, side)


def _grid(im: Image.Image) -> np.ndarray:
    """The 32x32x3 uint8 reduction every built-in number comes from."""
    small = im.resize((_GRID, _GRID), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8)


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def describe(grids: np.ndarray) -> np.ndarray:
    """The built-in descriptor of a batch of 32x32 RGB grids (B, 32, 32, 3) -> (B, 256) float32."""
    b = len(grids)
    if not b:
        return np.zeros((0, 256), np.float32)
    rgb = grids.astype(np.int32)
    # Joint colour histogram, 4 levels a channel; square roots make cosine compare it fairly.
    q = rgb >> 6
    idx = (q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).reshape(b, -1)
    idx += (np.arange(b) * 64)[:, None]
    colour = np.bincount(idx.ravel(), minlength=64 * b).reshape(b, 64).astype(np.float32)
    colour = _l2(np.sqrt(colour))
    grey = grids.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    # Coarse layout: 8x8 block means, centred so that it speaks of shape, not brightness.
    layout = grey.reshape(b, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(b, 64)
    layout = _l2(layout - layout.mean(axis=1, keepdims=True))
    # Gradient orientations (unsigned, 8 bins) weighted by magnitude, in 4x4 cells of 8x8 px.
    padded = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    magnitude = np.sqrt(gx * gx + gy * gy)
    angle = np.arctan2(gy, gx) % np.pi
    ori = np.minimum((angle * (8 / np.pi)).astype(np.int32), 7)
    cell = (np.arange(_GRID)[:, None] // 8) * 4 + (np.arange(_GRID)[None, :] // 8)
    bins = (cell[None] * 8 + ori) + (np.arange(b) * 128)[:, None, None]
    hog = np.bincount(bins.ravel(), weights=magnitude.ravel(), minlength=128 * b)
    hog = _l2(np.sqrt(hog.reshape(b, 128).astype(np.float32)))
    return _l2(np.concatenate([colour, layout, hog], axis=1)).astype(np.float32)


def builtin_embedder(images: Sequence[Image.Image]) -> np.ndarray:
    """The built-in descriptor of PIL images (see the module docstring): (len, 256) float32."""
    grids = np.stack([_grid(im.convert("RGB")) for im in images]) if images else np.zeros(0)
    return describe(grids)


def perceptual_hashes(grids: np.ndarray) -> np.ndarray:
    """64-bit DCT hashes of 32x32 grids: the signs of the 8x8 lowest frequencies vs their median."""
    from scipy.fft import dctn

    if not len(grids):
        return np.zeros(0, np.uint64)
    grey = grids.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    low = dctn(grey, axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(grids), 64)
    median = np.median(low[:, 1:], axis=1, keepdims=True)  # the DC term would dominate it
    bits = (low > median).astype(np.uint64)
    return (bits << np.arange(64, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def embed(
    blobs: Sequence[bytes | Exception],
    embedder: str | Embedder,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(vectors float16, ok, phash, sha) for the bytes of a batch of images."""
    side = _GRID if embedder == BUILTIN else MODEL_IMAGE_SIZE

    def one(data: bytes | Exception) -> tuple[np.ndarray | None, Image.Image | None]:
        try:
            im = _decode(data, side)
        except ImageDecodeError:
            return None, None
        except Exception:  # an odd Pillow failure: this image gets no vector, the batch goes on
            log.debug("features: an image could not be decoded", exc_info=True)
            return None, None
        grid = _grid(im)
        if embedder != BUILTIN:
            im.thumbnail((MODEL_IMAGE_SIZE, MODEL_IMAGE_SIZE), Image.Resampling.BICUBIC)
            return grid, im
        return grid, None

    decoded = list(pool.map(one, blobs)) if pool is not None else [one(d) for d in blobs]
    ok = np.asarray([g is not None for g, _ in decoded], dtype=bool)
    grids = np.stack([g for g, _ in decoded if g is not None]) if ok.any() else np.zeros(0)
    hashes = np.zeros(len(blobs), np.uint64)
    hashes[ok] = perceptual_hashes(grids)
    if embedder == BUILTIN:
        got = describe(grids)
    else:
        assert callable(embedder)
        got = np.asarray(embedder([im for _, im in decoded if im is not None]), dtype=np.float32)
        if got.ndim != 2 or got.shape[0] != int(ok.sum()):
            raise ValueError(
                f"the embedder must return one row per image: got shape {got.shape} "
                f"for {int(ok.sum())} images"
            )
        if not 1 <= got.shape[1] <= MAX_DIM:
            raise ValueError(
                f"the embedder must return 1 to {MAX_DIM:,} numbers an image, not {got.shape[1]:,}"
            )
    vectors = np.zeros((len(blobs), got.shape[1] if got.ndim == 2 else 0), np.float16)
    with np.errstate(over="ignore"):
        vectors[ok] = got.astype(np.float16)
    # A vector that is not finite (or too large for float16) would be refused when read:
    # its image counts as one that could not be computed.
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        ok &= finite
        vectors[~finite] = 0
    sha = [
        hashlib.sha256(d).hexdigest()[:32] if isinstance(d, bytes | bytearray) else ""
        for d in blobs
    ]
    return vectors, ok, hashes, sha
