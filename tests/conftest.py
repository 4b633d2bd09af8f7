"""Shared fixtures: real object stores on loopback, and the store locations the contract runs on.

The S3 server is moto's ``ThreadedMotoServer`` on 127.0.0.1, started once per session and reset
before every test that asks for it, as s3fs's own tests do (moto's in-process ``mock_aws`` does
not work with s3fs's aiohttp transport). An OBS-like proxy (:mod:`obs_proxy`) sits in front of
it for ``obs://`` URLs.

Fixtures:

- ``s3_endpoint``: the moto URL (``http://127.0.0.1:<port>``), freshly reset;
- ``s3_client``: a boto3 client on it, for arranging a test's objects behind the Store's back;
- ``s3_bucket``: the name of a new empty bucket;
- ``s3_options``: ``storage_options`` for ``s3://`` on moto;
- ``obs_proxy``: the :class:`obs_proxy.ObsProxy` in front of moto, reset (no faults, zero counts,
  path style allowed);
- ``obs_options``: ``storage_options`` for ``obs://`` through the proxy (path-style addressing,
  since ``<bucket>.127.0.0.1`` cannot resolve);
- ``obs_env``: the same given as ``OBS_*`` variables instead;
- ``obs_virtual_options``: ``storage_options`` for ``obs://`` with OBS's default virtual-hosted
  addressing: ``<bucket>.localhost`` resolves to 127.0.0.1 for the test and the proxy refuses
  path-style requests;
- ``memory_url``: a ``memory://`` URL of the test's own (the memory filesystem is emptied around it);
- ``store_location``: parametrized ``local`` / ``memory`` / ``s3`` / ``obs``: a
  :class:`StoreLocation` ``(url, storage_options)`` naming an empty folder;
- ``store_url``: its URL alone; ``store``: ``open_store(*store_location)``.

Credentials are always fake and the real AWS configuration is never read: see ``_fake_aws_env``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import uuid
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from obs_proxy import ObsProxy

from jupyter_labeler.storage import Store, open_store

# When a test fails, hypothesis' report hook imports its patching helper, whose dependencies
# warn about a deprecated typing helper; with warnings as errors that hides the failure behind
# an INTERNALERROR. Importing it once here, quietly, leaves the report to say what failed.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import hypothesis.extra._patching  # noqa: F401

FAKE_KEY = "testing"
FAKE_SECRET = "testing"

# Variables that could point botocore at a real account or change how it talks to a store.
_AWS_VARS_TO_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_S3_ADDRESSING_STYLE",
    "OBS_ENDPOINT",
    "OBS_ACCESS_KEY_ID",
    "OBS_SECRET_ACCESS_KEY",
    "OBS_ADDRESSING_STYLE",
)


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fake credentials for the whole session; real AWS files, profiles and endpoints ignored.

    Session-wide (not per test) so that no test, whatever fixtures it uses, can reach a real
    account with the developer's own keys.
    """
    nowhere = tmp_path_factory.mktemp("no-aws-config") / "absent"
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_VARS_TO_UNSET:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
        mp.setenv("AWS_SECURITY_TOKEN", FAKE_KEY)
        mp.setenv("AWS_SESSION_TOKEN", FAKE_KEY)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(nowhere))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # An HTTP proxy from the environment must never see loopback test traffic.
        for name in ("NO_PROXY", "no_proxy"):
            mp.setenv(
                name,
                ",".join(
                    filter(None, [os.environ.get(name, ""), "127.0.0.1,localhost,.localhost"])
                ),
            )
        yield


# -- S3 on moto -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _moto_server(_fake_aws_env: None) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _reset_moto(endpoint: str) -> None:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST", "/moto-api/reset")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"moto did not reset: HTTP {response.status}")


@pytest.fixture
def s3_endpoint(_moto_server: str) -> str:
    """The moto server's URL, emptied of every bucket, with no s3fs instance cached from before."""
    import s3fs

    _reset_moto(_moto_server)
    # s3fs caches filesystems (and their listings) by arguments: a stale one would remember
    # objects from the previous test.
    s3fs.S3FileSystem.clear_instance_cache()
    return _moto_server


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client on moto, to arrange or inspect objects behind the Store's back."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_SECRET,
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """The name of a new, empty bucket on moto."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    # No region / LocationConstraint: moto refuses LocationConstraint=us-east-1.
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    """``storage_options`` for ``s3://`` URLs on moto."""
    return {"endpoint_url": s3_endpoint, "key": FAKE_KEY, "secret": FAKE_SECRET}


# -- OBS through the proxy ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _obs_proxy_server(_moto_server: str) -> Iterator[ObsProxy]:
    # Path style allowed by default: virtual-hosted names need a resolver trick (see
    # obs_virtual_options), which only the tests about addressing should depend on.
    with ObsProxy(_moto_server, allow_path_style=True) as proxy:
        yield proxy


@pytest.fixture
def obs_proxy(_obs_proxy_server: ObsProxy, s3_endpoint: str) -> Iterator[ObsProxy]:
    """The OBS-like proxy in front of a freshly reset moto: no faults, counters at zero."""
    _obs_proxy_server.reset()
    try:
        yield _obs_proxy_server
    finally:
        # A test that stopped the proxy answering must not leave the next one stranded.
        _obs_proxy_server.reset()


@pytest.fixture
def obs_options(obs_proxy: ObsProxy) -> dict[str, Any]:
    """``storage_options`` for ``obs://`` URLs through the proxy, path-style addressing."""
    return {
        "endpoint_url": obs_proxy.url,
        "key": FAKE_KEY,
        "secret": FAKE_SECRET,
        "addressing_style": "path",
    }


@pytest.fixture
def obs_env(obs_proxy: ObsProxy, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``OBS_*`` variables pointing ``obs://`` at the proxy (path style); returns them."""
    env = {
        "OBS_ENDPOINT": obs_proxy.url,
        "OBS_ACCESS_KEY_ID": FAKE_KEY,
        "OBS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "OBS_ADDRESSING_STYLE": "path",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``<anything>.localhost`` resolve to 127.0.0.1 in this process, for this test.

    Virtual-hosted addressing puts the bucket in the host name; nothing here serves DNS for
    such names, and aiohttp resolves through ``socket.getaddrinfo``.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.lower().rstrip(".").endswith(".localhost"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def obs_virtual_options(obs_proxy: ObsProxy, localhost_subdomains: None) -> dict[str, Any]:
    """``storage_options`` for ``obs://`` with OBS's default virtual-hosted addressing.

    The proxy refuses path-style requests for this test, as OBS does.
    """
    obs_proxy.allow_path_style = False
    return {"endpoint_url": obs_proxy.virtual_host_url, "key": FAKE_KEY, "secret": FAKE_SECRET}


# -- memory:// ------------------------------------------------------------------------------------
def _clear_memory_fs() -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    # The memory filesystem is one process-wide dict: empty it the way fsspec's own tests do.
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs.clear()
    MemoryFileSystem.pseudo_dirs.append("")


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A ``memory://`` URL of this test's own; the memory filesystem is empty before and after."""
    _clear_memory_fs()
    try:
        yield f"memory://test-{uuid.uuid4().hex[:12]}"
    finally:
        _clear_memory_fs()


# -- every backend --------------------------------------------------------------------------------
class StoreLocation(NamedTuple):
    """Where a store lives: ``open_store(*location)`` opens it."""

    url: str
    storage_options: dict[str, Any]

    @property
    def kind(self) -> str:
        """``"local"``, ``"memory"``, ``"s3"`` or ``"obs"``."""
        scheme, sep, _ = self.url.partition("://")
        return scheme if sep else "local"


STORE_KINDS = ("local", "memory", "s3", "obs")


@pytest.fixture(params=STORE_KINDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Any) -> StoreLocation:
    """An empty folder on each backend in turn, with the ``storage_options`` it needs.

    Only the chosen backend's fixtures are set up, so local and memory runs never start moto.
    """
    kind = request.param
    if kind == "local":
        folder = tmp_path / "store"
        folder.mkdir()
        return StoreLocation(str(folder), {})
    if kind == "memory":
        return StoreLocation(request.getfixturevalue("memory_url"), {})
    bucket = request.getfixturevalue("s3_bucket")
    if kind == "s3":
        return StoreLocation(f"s3://{bucket}/prefix", dict(request.getfixturevalue("s3_options")))
    return StoreLocation(f"obs://{bucket}/prefix", dict(request.getfixturevalue("obs_options")))


@pytest.fixture
def store_url(store_location: StoreLocation) -> str:
    """The URL of ``store_location`` alone (for code that takes its options elsewhere)."""
    return store_location.url


@pytest.fixture
def store(store_location: StoreLocation) -> Store:
    """``open_store(*store_location)``: an empty Store on each backend in turn."""
    return open_store(*store_location)
