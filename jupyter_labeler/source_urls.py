"""Where an image is: its path key in the source folder, and the URLs a manifest names it by.

A manifest names each image by a ``source`` URL; the dataset keys it by its path relative to
the source folder. ModelArts and every SDK sample name OBS objects ``s3://bucket/key`` (never
``obs://``), other tools write ``s3a://``, ``file://``, absolute paths or ``./x.jpg``: reading
and writing manifests goes through :class:`SourceUrls`, which knows the source's own spelling.
"""

from __future__ import annotations

from .storage import Store

__all__ = ["SourceUrls", "output_inside"]


def output_inside(source: Store, output: Store) -> tuple[str, ...]:
    """The output folder's path in the source folder, when it lies there (else nothing): the
    images found or named there are not images of the dataset."""
    if output.fs is not source.fs and output.scheme != source.scheme:
        return ()
    rel = source.relative(output.root + "/")
    return (rel.rstrip("/"),) if rel else ()


class SourceUrls:
    """The mapping between the path keys of one source folder and manifest ``source`` URLs."""

    def __init__(self, source: Store) -> None:
        self.source = source

    def relative(self, url: str) -> str | None:
        """The path key of a manifest ``source`` URL, or None when it is outside the source.

        The key is not checked here: :func:`~.paths.image_path_problem` decides whether it may
        be an image (``<source>/../x.jpg`` gives ``../x.jpg``, which it refuses).
        """
        rest = url
        if "://" in url:
            scheme, rest = url.split("://", 1)
            if scheme in {"s3", "s3a", "obs"} and self.source.scheme in {"s3", "obs"}:
                return self.source.relative(rest)
            if scheme == "file" or scheme == "memory":
                rest = "/" + rest.lstrip("/")
            else:
                return None
        elif not url.startswith("/"):
            # Relative to the source folder, as some tools write them: ``./x.jpg``.
            while rest.startswith("./"):
                rest = rest[2:]
            return rest
        return self.source.relative(rest)

    @property
    def prefix(self) -> str:
        """What an image's path follows in a manifest ``source`` this package writes.

        ModelArts and every SDK sample name OBS objects ``s3://bucket/key``, never ``obs://``.
        """
        if self.source.scheme == "obs":
            return f"s3://{self.source.root.strip('/')}/"
        return self.source.url_of("").rstrip("/") + "/"

    def same_image(self, source: str, path: str) -> bool:
        """Whether a manifest ``source`` spelled its own way names the image at ``path``."""
        return self.relative(source.strip()) == path
