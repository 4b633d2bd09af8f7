"""One small seam between jupyter-labeler and the places images and labels live.

:func:`open_store` turns a URL into a :class:`Store`: a filesystem (fsspec) plus a root folder.
Everything above this module speaks in paths relative to that root and never sees botocore,
aiohttp or OSError: failures come out as :class:`~jupyter_labeler.errors.StoreError` subclasses.

Supported URLs:

- a local path or ``file://...`` (the default, no account needed);
- ``memory://name`` (fsspec's in-process filesystem, for tests and throw-away work);
- ``s3://bucket/prefix`` (any S3 store; ``storage_options`` go to :class:`s3fs.S3FileSystem`,
  e.g. ``{"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...}``);
- ``obs://bucket/prefix`` (Huawei OBS through the S3 protocol). The endpoint comes from
  ``storage_options["endpoint_url"]`` or the ``OBS_ENDPOINT`` variable, the keys from
  ``storage_options`` or ``OBS_ACCESS_KEY_ID`` / ``OBS_SECRET_ACCESS_KEY`` (then the usual AWS
  variables). OBS wants virtual-hosted addressing, signature v4 and no default payload checksums
  (``request_checksum_calculation`` and ``response_checksum_validation`` are ``when_required``),
  and its multi-object DELETE demands a Content-MD5 header that current botocore no longer sends,
  so deletes go one object at a time, concurrently. ``storage_options["addressing_style"]`` (or
  ``OBS_ADDRESSING_STYLE``) may say ``"path"`` for OBS-compatible stores that need it.
"""

from __future__ import annotations

import builtins
import contextlib
import email.utils
import errno
import logging
import os
import posixpath
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.local import LocalFileSystem

from .errors import (
    StoreAccessError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
    UnsafePathError,
)
from .paths import path_problem

__all__ = ["Listed", "Listing", "Store", "open_store"]

# Local writes go to a file of this name first and are renamed into place; listings skip them.
_TMP_PREFIX = ".tmp-"
# A durable local file written in pieces is handed to the disk every this many bytes.
_WRITEBACK_STEP = 64 << 20


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the disk start writing these bytes of a file now, and drop those it wrote.

    A snapshot manifest is gigabytes at ten million images. Written whole before its
    ``fsync``, it waits that long for the disk at the end, and first fills the page cache
    with as many pages taken from elsewhere. Handed on a step at a time, the disk works
    while the rest is built, the ``fsync`` finds little left, and the cache reuses the
    same few pages (the manifest is not read back): 1.9 GB written alone then took 0.7 s
    to write and sync, where it took from 1.4 to 5 s depending on the cache.
    ``POSIX_FADV_DONTNEED`` starts the writeback of dirty pages and drops clean ones; where
    it does not exist, this does nothing.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def _is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the store could not be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            "ClientOSError",
            "ServerTimeoutError",
            "ClientPayloadError",
            "IncompleteReadError",
            "ResponseStreamingError",
        }:
            return True
        if isinstance(current, TimeoutError | ConnectionError):
            return True
        if isinstance(current, OSError) and current.errno in _UNREACHABLE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_missing_bucket(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is an S3 ``NoSuchBucket`` answer."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") == "NoSuchBucket":
            return True
        current = current.__cause__ or current.__context__
    return False


def translate_error(exc: BaseException, url: str) -> StoreError:
    """Map a low-level error to the project's StoreError family (without credentials)."""
    if isinstance(exc, StoreError):
        return exc
    detail = str(exc) or type(exc).__name__
    if _is_unreachable(exc):
        return StoreUnavailableError(f"cannot reach the store at {url}: {detail}", url)
    if isinstance(exc, FileNotFoundError):
        if _is_missing_bucket(exc):
            return StoreNotFoundError(f"not found: {url}: the bucket does not exist", url)
        return StoreNotFoundError(f"not found: {url}", url)
    if isinstance(exc, PermissionError):
        return StoreAccessError(
            f"the store refused access to {url}: check the credentials and permissions ({detail})",
            url,
        )
    return StoreError(f"the store failed at {url}: {detail}", url)


def _unprefixed(fs: fsspec.AbstractFileSystem, name: str) -> str:
    """``name`` without its protocol, spelled as ``fs`` spells paths in its answers.

    The same as the filesystem's own stripping, through public calls: ``unstrip_protocol`` gives
    the name a protocol of ``fs`` (or keeps the one it has) and ``fsspec.core.strip_protocol``
    strips it as that protocol's filesystem class does.
    """
    return fsspec.core.strip_protocol(fs.unstrip_protocol(name))


def _empty_range(value: object) -> bool:
    """Whether ``value`` is the store's "range not satisfiable" answer to a read from byte 0."""
    if not isinstance(value, OSError) or value.errno != errno.EINVAL:
        return False
    # s3fs keeps botocore's error as the cause: its code says which EINVAL this is.
    response = getattr(value.__cause__, "response", None)
    if not isinstance(response, dict):
        return False
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code == "InvalidRange" or status == 416


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise translate_error(exc, url) from exc


# s3fs retries a failed call five times with backoff, and botocore retries under it: against an
# unreachable store a single write took many seconds before the journal could say "not yet
# saved". One quick retry here is enough for a dropped connection; the journal's own background
# loop does the long-term retrying. ``storage_options`` may override each of these.
_S3FS_ATTEMPTS = 2
_CONFIG_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 3,
    "read_timeout": 30,
    "retries": {"total_max_attempts": 2},
}


# botocore logs every request at DEBUG with its headers: the Authorization header names the
# access key id, and X-Amz-Security-Token carries a temporary credential whole. Turning on debug
# logging to chase a store problem must not write credentials into a notebook or a log file.
_CREDENTIAL_PATTERNS = (
    (re.compile(r"(Credential=)[^/,\s'\"]+"), r"\1<redacted>"),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1<redacted>"),
    (
        re.compile(
            r"""((?:x-amz-security-token|x-obs-security-token)['"]?\s*[:=]\s*b?['"]?)[^'",\s}]+""",
            re.I,
        ),
        r"\1<redacted>",
    ),
)
_LOGGERS_WITH_HEADERS = ("botocore.endpoint", "aiobotocore.endpoint", "botocore.auth")


class _RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is left to logging's own handling
            return True
        redacted = text
        for pattern, replacement in _CREDENTIAL_PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def _redact_credentials_in_logs() -> None:
    for name in _LOGGERS_WITH_HEADERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactCredentials) for f in logger.filters):
            logger.addFilter(_RedactCredentials())


def _s3fs(options: dict[str, Any], config: dict[str, Any]) -> fsspec.AbstractFileSystem:
    """An S3FileSystem with short retries (see _S3FS_ATTEMPTS) unless the options say otherwise."""
    import s3fs

    _redact_credentials_in_logs()
    attempts = int(options.pop("retries", _S3FS_ATTEMPTS))
    for key, value in _CONFIG_DEFAULTS.items():
        config.setdefault(key, value)
    fs = s3fs.S3FileSystem(config_kwargs=config, **options)
    fs.retries = max(1, attempts)  # s3fs reads the instance attribute on every call
    return fs


def _obs_filesystem(options: dict[str, Any]) -> fsspec.AbstractFileSystem:
    options = dict(options)
    endpoint = options.pop("endpoint_url", None) or os.environ.get("OBS_ENDPOINT")
    if not endpoint:
        raise StoreError(
            "obs:// needs an endpoint: set OBS_ENDPOINT (e.g. https://obs.cn-north-4.myhuaweicloud.com)"
            " or pass storage_options={'endpoint_url': ...}"
        )
    style = options.pop("addressing_style", None) or os.environ.get(
        "OBS_ADDRESSING_STYLE", "virtual"
    )
    if "key" not in options and os.environ.get("OBS_ACCESS_KEY_ID"):
        options["key"] = os.environ["OBS_ACCESS_KEY_ID"]
    if "secret" not in options and os.environ.get("OBS_SECRET_ACCESS_KEY"):
        options["secret"] = os.environ["OBS_SECRET_ACCESS_KEY"]
    config = dict(options.pop("config_kwargs", {}) or {})
    config.setdefault("signature_version", "s3v4")
    config.setdefault("request_checksum_calculation", "when_required")
    config.setdefault("response_checksum_validation", "when_required")
    s3_config = dict(config.get("s3", {}) or {})
    s3_config.setdefault("addressing_style", style)
    config["s3"] = s3_config
    return _s3fs({**options, "endpoint_url": endpoint}, config)


def _s3_filesystem(options: dict[str, Any]) -> fsspec.AbstractFileSystem:
    options = dict(options)
    config = dict(options.pop("config_kwargs", {}) or {})
    return _s3fs(options, config)


def open_store(
    url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> Store:
    """Return the Store for ``url`` (see the module docstring for the URLs understood)."""
    options = dict(storage_options or {})
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "file", text
    scheme = scheme.lower()
    if scheme == "file":
        root = os.path.abspath(os.path.expanduser(rest))
        return Store(LocalFileSystem(), root.rstrip("/") or "/", "file")
    if scheme == "memory":
        fs = fsspec.filesystem("memory")
        return Store(fs, "/" + rest.strip("/"), "memory")
    if scheme in {"s3", "s3a", "obs"}:
        bucket_and_prefix = rest.strip("/")
        if not bucket_and_prefix:
            raise StoreError(f"{text!r} names no bucket", text)
        with _translated(text):
            fs = _obs_filesystem(options) if scheme == "obs" else _s3_filesystem(options)
        return Store(fs, bucket_and_prefix, "obs" if scheme == "obs" else "s3")
    raise StoreError(
        f"unsupported location {text!r}: use a local folder, file://, memory://, s3:// or obs://",
        text,
    )


@dataclass(frozen=True)
class Listed:
    """One object of a listing: its name in the folder, when the store last wrote it (epoch
    seconds, by the store's own clock, never by a writer's) and a tag that changes whenever its
    bytes may have (S3's ``ETag``: for a plain PUT, the MD5 of the bytes in quotes)."""

    name: str
    modified: float
    tag: str


@dataclass(frozen=True)
class Listing:
    """What :meth:`Store.list_after` found, and the store's clock when it answered (epoch s)."""

    objects: builtins.list[Listed]
    now: float


def _response_date(answer: Mapping[str, Any], default: float) -> float:
    """The ``Date`` of an S3 response (the store's clock, to the second), else ``default``."""
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    text = headers.get("date") if isinstance(headers, Mapping) else None
    if not isinstance(text, str):
        return default
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return default


@dataclass(eq=False)
class Store:
    """A folder in a filesystem: reads, atomic writes, listing and deletes, relative to ``root``.

    Paths given to its methods are relative to the root and use ``/``.
    """

    fs: fsspec.AbstractFileSystem
    root: str
    scheme: str
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    # -- naming -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The root as a URL a user would type (local folders as plain paths)."""
        if self.scheme == "file":
            return self.root
        if self.scheme == "memory":
            return "memory:/" + self.root
        return f"{self.scheme}://{self.root}"

    def path(self, rel: str = "") -> str:
        """The filesystem path of ``rel``, which must stay inside the root.

        ``rel`` must be a relative path in normal form (see :func:`~.paths.path_problem`): no
        ``..``, no ``//``, not absolute. Anything else raises
        :class:`~jupyter_labeler.errors.UnsafePathError` before the filesystem is touched, so
        that no key from a store or a manifest can make a read, write or delete land outside
        the folder, or on another object than the one it names (``a//b`` is not ``a/b``).
        """
        if not rel:
            return self.root
        if rel.endswith("/"):  # a folder, as some callers spell it
            rel = rel[:-1]
        problem = path_problem(rel)
        if problem is not None:
            raise UnsafePathError(rel, problem, self.url)
        return posixpath.join(self.root, rel) if self.root != "/" else "/" + rel

    def _paths(
        self, rels: list[str]
    ) -> tuple[builtins.list[str], builtins.list[str], dict[str, Exception]]:
        """The acceptable ``rels`` and their filesystem paths, and an error for each other one."""
        good: list[str] = []
        paths: list[str] = []
        bad: dict[str, Exception] = {}
        for rel in rels:
            try:
                paths.append(self.path(rel))
            except UnsafePathError as exc:
                bad[rel] = exc
            else:
                good.append(rel)
        return good, paths, bad

    def url_of(self, rel: str) -> str:
        """The full URL of ``rel``, as written into a manifest's ``source``."""
        rel = rel.strip("/")
        if self.scheme == "file":
            return self.path(rel)
        return f"{self.url}/{rel}" if rel else self.url

    def relative(self, path: str) -> str | None:
        """``path`` (as the filesystem spells it) relative to the root, or None when outside."""
        root = self.root.rstrip("/") + "/"
        if path.startswith(root):
            return path[len(root) :]
        return None

    def name_limit(self, rel: str) -> int:
        """The longest name, in UTF-8 bytes, that an object directly in folder ``rel`` may have.

        S3 and OBS bound a whole key (the folder's key and the name) to 1,024 bytes; local
        filesystems bound each name to 255.
        """
        if self.scheme in {"s3", "obs"}:
            key = self.path(rel).partition("/")[2]
            return max(1024 - len(key.encode("utf-8")) - 1, 0)
        return 255

    def child(self, rel: str) -> Store:
        """The Store of a subfolder, sharing this one's filesystem."""
        return Store(self.fs, self.path(rel), self.scheme)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- reading ------------------------------------------------------------------------------
    def read(self, rel: str) -> bytes:
        """The bytes of one object."""
        with _translated(self.url_of(rel)):
            return self.fs.cat_file(self.path(rel))

    def read_pieces(self, rel: str, piece_bytes: int = 1 << 24) -> Iterator[bytes]:
        """The bytes of one object, as consecutive pieces: on a local disk ``piece_bytes`` at
        a time, so that a reader that lets each go holds no more (a manifest of ten million
        lines is 2 GB); an object store's in one piece, by one GET as :meth:`read` (a ranged
        read would first ask its size, which s3fs may answer from a stale listing)."""
        if self.scheme != "file":
            yield self.read(rel)
            return
        with _translated(self.url_of(rel)), open(self.path(rel), "rb") as fh:
            while piece := fh.read(piece_bytes):
                yield piece

    def read_many(
        self, rels: Iterable[str], *, limit: int | None = None
    ) -> dict[str, bytes | Exception]:
        """Read several objects in one concurrent batch; a failure is returned, not raised.

        With ``limit``, at most ``limit + 1`` bytes of each object are read (ranged reads): a
        result longer than ``limit`` says the object is larger, without holding all of it.
        """
        rels, paths, refused = self._paths(list(rels))
        out: dict[str, bytes | Exception] = dict(refused)
        if not rels:
            return out
        try:
            if limit is None and self.scheme in {"s3", "obs"}:
                # One GET each. s3fs would first ask each object's size (a HEAD, answered from
                # a folder listing it may have cached: a new object then reads as missing) to
                # split objects over 50 MB into parts; a batch holds small objects.
                got = self.fs.cat(paths, on_error="return", max_concurrency=1)
            elif limit is None:
                got = self.fs.cat(paths, on_error="return")
            else:
                ranged = self.fs.cat_ranges(
                    paths, [0] * len(paths), [limit + 1] * len(paths), on_error="return"
                )
                got = dict(zip(paths, ranged, strict=True))
        except Exception as exc:
            err = translate_error(exc, self.url)
            out.update(dict.fromkeys(rels, err))
            return out
        if not isinstance(got, dict):  # a single path comes back bare
            got = {paths[0]: got}
        for rel, path in zip(rels, paths, strict=True):
            value = got.get(path)
            if value is None:
                missing = StoreNotFoundError(f"not found: {self.url_of(rel)}", self.url_of(rel))
                value = got.get(_unprefixed(self.fs, path), missing)
            if limit is not None and _empty_range(value):
                value = b""  # S3 and OBS answer a ranged read of an empty object with 416
            if isinstance(value, Exception):
                value = translate_error(value, self.url_of(rel))
            out[rel] = value
        return out

    def exists(self, rel: str) -> bool:
        with _translated(self.url_of(rel)):
            return bool(self.fs.exists(self.path(rel)))

    def list(self, rel: str = "", *, recursive: bool = False) -> dict[str, int]:
        """Objects below ``rel``: relative path -> size in bytes. A missing folder is empty."""
        base = self.path(rel)
        with _translated(self.url_of(rel)):
            try:
                if recursive:
                    found = self.fs.find(base, detail=True)
                else:
                    found = {
                        info["name"]: info
                        for info in self.fs.ls(base, detail=True)
                        if info.get("type") != "directory"
                    }
            except FileNotFoundError as exc:
                # A missing folder is simply empty, but a missing bucket is a wrong URL: saying
                # "empty" would show a blank dataset and fail only at the first write.
                if _is_missing_bucket(exc):
                    raise
                return {}
            if self.scheme != "file":
                with contextlib.suppress(AttributeError):
                    self.fs.invalidate_cache(base)
        out: dict[str, int] = {}
        for name, info in found.items():
            name = _unprefixed(self.fs, name) if "://" in name else name
            relname = self.relative(name)
            if relname is None or info.get("type") == "directory":
                continue
            if self.scheme == "file" and posixpath.basename(relname).startswith(_TMP_PREFIX):
                continue  # another writer's half-written file (or a crashed one's leftover)
            out[relname] = int(info.get("size") or 0)
        return out

    def list_after(self, rel: str, after: str) -> Listing:
        """The objects directly in folder ``rel`` whose names sort after ``after``, sorted, each
        with when the store wrote it and its tag (as in :meth:`list_versions`), and the store's
        clock when it answered.

        On S3 and OBS one request (``StartAfter``) that lists only the newer ones, however many
        older objects the folder holds: what a follower polling the journal every few seconds
        can afford. The clock is the response's ``Date``. Elsewhere the folder is listed and
        filtered, and the clock is this machine's.
        """
        if self.scheme in {"s3", "obs"}:
            bucket, _, prefix = self.path(rel).partition("/")
            prefix = prefix.rstrip("/") + "/"
            found: list[Listed] = []
            token: str | None = None
            now = time.time()
            with _translated(self.url_of(rel)):
                while True:
                    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
                    if token:
                        kwargs["ContinuationToken"] = token
                    else:
                        kwargs["StartAfter"] = prefix + after
                    answer = self.fs.call_s3("list_objects_v2", **kwargs)
                    now = _response_date(answer, now)
                    for item in answer.get("Contents", []):
                        name = item["Key"][len(prefix) :]
                        if "/" not in name:
                            stamp = item.get("LastModified")
                            modified = stamp.timestamp() if hasattr(stamp, "timestamp") else now
                            found.append(Listed(name, float(modified), str(item.get("ETag", ""))))
                    token = answer.get("NextContinuationToken")
                    if not answer.get("IsTruncated") or not token:
                        break
            found.sort(key=lambda listed: listed.name)
            return Listing(found, now)
        now = time.time()
        versions = self.list_versions(rel)
        return Listing(
            [Listed(n, stamp, tag) for n, (stamp, tag) in sorted(versions.items()) if n > after],
            now,
        )

    def list_modified(self, rel: str) -> dict[str, float]:
        """Objects directly in folder ``rel``: name -> when the store last wrote it (epoch s).

        The store's own clock (S3 ``LastModified``, a file's mtime), not the writers' clocks.
        """
        return {name: stamp for name, (stamp, _) in self.list_versions(rel).items()}

    def list_versions(self, rel: str) -> dict[str, tuple[float, str]]:
        """Objects directly in folder ``rel``: name -> (when the store last wrote it, a tag).

        The time is as in :meth:`list_modified`; the tag changes whenever the object's bytes may
        have changed: S3's ``ETag`` (for a plain PUT the MD5 of the bytes, so rewriting the same
        bytes keeps it), else a file's inode, size and time. A reader can so skip reading again
        an object it already holds, from the listing alone.
        """
        base = self.path(rel)
        now = time.time()
        with _translated(self.url_of(rel)):
            try:
                found = self.fs.ls(base, detail=True)
            except FileNotFoundError:
                return {}
            if self.scheme != "file":
                with contextlib.suppress(AttributeError):
                    self.fs.invalidate_cache(base)
        out: dict[str, tuple[float, str]] = {}
        for info in found:
            if info.get("type") == "directory":
                continue
            name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            stamp = info.get("LastModified", info.get("mtime", info.get("created")))
            if hasattr(stamp, "timestamp"):
                stamp = stamp.timestamp()
            if isinstance(stamp, int | float) and not name.startswith(_TMP_PREFIX):
                if self.scheme != "s3" and self.scheme != "obs":
                    # Anyone may set a file's time (``touch -d``): the store's clock is this
                    # machine's, and no file was written after now.
                    stamp = min(float(stamp), now)
                etag = info.get("ETag") or info.get("etag")
                tag = str(etag) if etag else f"{info.get('ino', '')}/{info.get('size')}/{stamp!r}"
                out[name] = (float(stamp), tag)
        return out

    # -- writing ------------------------------------------------------------------------------
    def write(
        self, rel: str, data: bytes | Iterable[bytes | memoryview], *, durable: bool = True
    ) -> None:
        """Write one object so that readers see all of it or nothing.

        ``data`` is the bytes, or consecutive pieces of them (a large manifest, built while it
        is written): on a local disk each piece is written as it comes, so only one is held at
        a time; an object store gets them joined. A piece that cannot be built (an exception
        from ``data``) leaves no object behind.

        On a local disk the bytes go to a temporary file that is renamed into place (and, when
        ``durable``, flushed to the disk first); object stores make a PUT atomic by themselves.
        """
        path = self.path(rel)
        pieces = [data] if isinstance(data, bytes | bytearray | memoryview) else data
        with _translated(self.url_of(rel)):
            if self.scheme == "file":
                folder = os.path.dirname(path)
                os.makedirs(folder, exist_ok=True)
                tmp = os.path.join(folder, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
                try:
                    with open(tmp, "wb") as fh:
                        written = handed = before = 0
                        for piece in pieces:
                            written += fh.write(piece)
                            if durable and written - handed >= _WRITEBACK_STEP:
                                fh.flush()
                                # this step to the disk; the one before, written by now, out
                                # of the cache
                                _start_writeback(fh.fileno(), before, written - before)
                                before, handed = handed, written
                        if durable:
                            fh.flush()
                            os.fsync(fh.fileno())
                    os.replace(tmp, path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.remove(tmp)
                    raise
            else:
                whole = data if isinstance(data, bytes) else b"".join(pieces)
                self.fs.pipe_file(path, whole)
                if self.scheme != "memory":
                    with contextlib.suppress(AttributeError):
                        self.fs.invalidate_cache(posixpath.dirname(path))

    def copy(self, src: str, dst: str) -> None:
        """Copy one object (server side on object stores)."""
        with _translated(self.url_of(dst)):
            if self.scheme == "file":
                # A hard link under a temporary name, renamed into place: atomic and O(1).
                target = self.path(dst)
                tmp = os.path.join(os.path.dirname(target), f".tmp-{uuid.uuid4().hex}")
                try:
                    os.link(self.path(src), tmp)
                except OSError:  # no hard links here (some network filesystems)
                    self.write(dst, self.read(src))
                    return
                os.replace(tmp, target)
            else:
                self.fs.copy(self.path(src), self.path(dst))

    def delete(self, rels: Iterable[str]) -> dict[str, Exception]:
        """Delete objects; returns the ones that failed (a missing one counts as deleted).

        Always one request per object, run concurrently on object stores: OBS refuses the
        multi-object DELETE that s3fs would otherwise use.
        """
        rels, paths, refused = self._paths(list(rels))
        failed: dict[str, Exception] = dict(refused)
        if not rels:
            return failed
        if isinstance(self.fs, AsyncFileSystem):
            # Up to 32 DELETEs at once: each thread's rm_file waits on fsspec's event loop,
            # which runs them concurrently.
            def remove(p: str) -> Exception | None:
                try:
                    self.fs.rm_file(p)
                except Exception as exc:
                    return exc
                return None

            with ThreadPoolExecutor(min(32, len(paths)), thread_name_prefix="delete") as pool:
                results: list[Exception | None] = list(pool.map(remove, paths))
            with contextlib.suppress(AttributeError):
                self.fs.invalidate_cache()
        else:
            results = []
            for p in paths:
                try:
                    self.fs.rm_file(p)
                    results.append(None)
                except Exception as exc:
                    results.append(exc)
        for rel, result in zip(rels, results, strict=True):
            if isinstance(result, FileNotFoundError):
                continue
            if isinstance(result, Exception):
                failed[rel] = translate_error(result, self.url_of(rel))
        return failed
