"""Features of images: one vector per image, computed once and kept beside the labels.

Vectors live in the output folder, one Parquet file per computed batch::

    features/<embedder>/<time ms>-<random>.parquet    image_id, size, ok, sha, phash, vector

``vector`` is a fixed-size list of float16 (half the bytes of float32; cosine similarity and a
linear model lose nothing measurable at that precision). ``sha`` (the first 128 bits of the
SHA-256 of the bytes) and ``phash`` (a 64-bit DCT perceptual hash) come with every batch
whatever the embedder, for :mod:`jupyter_labeler.duplicates`. ``ok`` is False for an image
that cannot be decoded: it keeps a row (so that it is not tried again) with a zero vector.

Computing is incremental: only images with no row yet, or whose size changed, are computed, so
that a second run after a sync computes the new images only, and every annotator of the dataset
shares what one of them computed. Images that left the dataset are dropped from the files at
the next compaction (:func:`prune`). The journal reads only ``journal/`` and ``snapshots/``:
nothing here can disturb opening, compaction or exports.

Anyone who can write to the output folder can put a file here, so each file is checked on its
own when read (:class:`FeatureStore`): its size, its schema, its vectors' length (256 for the
built-in embedder, at most :data:`MAX_DIM` for any; for a callable, the length most images'
vectors have) and that their numbers are finite. A bad file is skipped and named in the
dataset's ``problems`` (so are rows that are not finite); it never replaces another file's
rows, and an image left with no usable row counts as having no features: the next
:func:`compute` computes it again.

The built-in embedder needs no model and no download: a descriptor of a 32x32 reduction of the
image (JPEGs scaled down while decoding): a joint RGB colour histogram (4x4x4 bins), a coarse
grey layout (8x8), and a histogram of gradient orientations (8 orientations in 4x4 cells),
each block L2-normalised, then the whole: 256 numbers. Any callable taking a list of PIL images
and returning a 2-D array plugs in instead, e.g. a torchvision model::

    import torch, torchvision
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    model = torchvision.models.resnet18(weights=weights).eval()
    model.fc = torch.nn.Identity()
    embed = lambda images: model(torch.stack([weights.transforms()(im) for im in images])).detach().numpy()
    ds.compute_features(embed, name="resnet18")

With a ``dask.distributed`` client, the batches run on the cluster: each worker reads its images
from the store itself. The store (and the credentials in its storage options) travels once,
scattered, inside a wrapper whose repr hides it: task graphs name only its key.

The work is in three modules, re-exported here: :mod:`.embedding` turns bytes into vectors (the
built-in descriptor, hashes, a callable embedder), :mod:`.feature_files` keeps and checks the
files (:class:`~.feature_files.FeatureStore`, :class:`~.feature_files.Features`,
:func:`~.feature_files.prune`), and :mod:`.feature_compute` computes what images lack
(:func:`~.feature_compute.compute`), here or on a cluster.
"""

from __future__ import annotations

from .embedding import (
    BUILTIN,
    BUILTIN_DIM,
    MAX_DIM,
    MODEL_IMAGE_SIZE,
    Embedder,
    builtin_embedder,
    describe,
    embed,
    perceptual_hashes,
)
from .feature_compute import BATCH_SIZE, Batch, ComputeSummary, ProgressFn, compute, embed_batch
from .feature_files import (
    FEATURES_DIR,
    MAX_FEATURES_FILE_BYTES,
    MAX_FEATURES_FILE_UNPACKED,
    MAX_FILE_NUMBERS,
    MAX_FILE_ROWS,
    Features,
    FeatureStore,
    check_name,
    embedder_name,
    embedders,
    prune,
)

__all__ = [
    "BATCH_SIZE",
    "BUILTIN",
    "BUILTIN_DIM",
    "FEATURES_DIR",
    "MAX_DIM",
    "MAX_FEATURES_FILE_BYTES",
    "MAX_FEATURES_FILE_UNPACKED",
    "MAX_FILE_NUMBERS",
    "MAX_FILE_ROWS",
    "MODEL_IMAGE_SIZE",
    "Batch",
    "ComputeSummary",
    "Embedder",
    "FeatureStore",
    "Features",
    "ProgressFn",
    "builtin_embedder",
    "check_name",
    "compute",
    "describe",
    "embed",
    "embed_batch",
    "embedder_name",
    "embedders",
    "perceptual_hashes",
    "prune",
]
