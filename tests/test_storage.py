"""The store contract, run against every backend, and what is particular to S3 and OBS.

:class:`TestStoreContract` holds the promises every :class:`~jupyter_labeler.storage.Store`
keeps, and runs once per backend of the ``store`` fixture: a local folder, ``memory://``,
``s3://`` on moto over HTTP and ``obs://`` through the OBS-like proxy (which refuses what OBS
refuses, so a request OBS would reject fails here too).
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import traceback
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from conftest import FAKE_KEY, StoreLocation
from obs_proxy import ObsProxy

from jupyter_labeler.errors import (
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from jupyter_labeler.journal import digest_of
from jupyter_labeler.storage import Store, open_store

# A fake secret distinct enough to be searched for in messages (never a real credential).
LEAK_CANARY = "testing-canary-secret-7f3a"

# Fail fast instead of botocore's five attempts with back-off. botocore's "max_attempts" counts
# retries after the first try (legacy mode): {"max_attempts": 1} still sleeps before one retry.
FAST_FAIL = {"config_kwargs": {"retries": {"total_max_attempts": 1}, "connect_timeout": 1}}


def _pattern(n: int, seed: int = 0) -> bytes:
    """Deterministic bytes that are not all alike, so a mixed-up object would show."""
    return bytes((i * 31 + seed) % 251 for i in range(n))


class TestStoreContract:
    """What every Store promises, whatever holds the bytes."""

    # -- reading and writing --------------------------------------------------------------------
    @pytest.mark.parametrize(
        "size", [0, 1, 1000, 5 * 1024 * 1024], ids=["empty", "1B", "1KB", "5MB"]
    )
    def test_write_then_read_gives_the_same_bytes(self, store: Store, size: int) -> None:
        data = _pattern(size, seed=size)
        store.write("folder/object.bin", data)
        assert store.read("folder/object.bin") == data

    def test_binary_bytes_survive_unchanged(self, store: Store) -> None:
        data = bytes(range(256)) * 4 + b"\r\n\x00\r"
        store.write("raw.bin", data)
        assert store.read("raw.bin") == data

    def test_a_second_write_replaces_the_first(self, store: Store) -> None:
        store.write("x.txt", b"first, and longer")
        store.write("x.txt", b"second")
        assert store.read("x.txt") == b"second"
        assert store.list() == {"x.txt": 6}

    def test_reading_a_missing_object_raises_not_found(self, store: Store) -> None:
        with pytest.raises(StoreNotFoundError) as info:
            store.read("no/such/object")
        assert isinstance(info.value, FileNotFoundError)
        assert info.value.url == store.url_of("no/such/object")

    def test_non_ascii_names_round_trip(self, store: Store) -> None:
        store.write("猫/图片 1.jpg", b"cat")
        assert store.read("猫/图片 1.jpg") == b"cat"
        assert store.list("猫") == {"猫/图片 1.jpg": 3}

    # -- read_many ------------------------------------------------------------------------------
    def test_read_many_returns_every_object_and_missing_ones_as_errors(self, store: Store) -> None:
        present = {f"images/{i:03d}.jpg": _pattern(100 + i, seed=i) for i in range(50)}
        for rel, data in present.items():
            store.write(rel, data)
        missing = [f"images/missing-{i}.jpg" for i in range(5)]

        got = store.read_many([*present, *missing])

        assert list(got) == [*present, *missing]  # in the order asked
        for rel, data in present.items():
            assert got[rel] == data, rel
        for rel in missing:
            error = got[rel]
            assert isinstance(error, StoreNotFoundError), error
            assert error.url == store.url_of(rel)

    def test_read_many_of_one_object(self, store: Store) -> None:
        store.write("one", b"1")
        assert store.read_many(["one"]) == {"one": b"1"}
        assert isinstance(store.read_many(["none"])["none"], StoreNotFoundError)

    def test_read_many_of_nothing_is_empty(self, store: Store) -> None:
        assert store.read_many([]) == {}

    def test_a_ranged_read_holds_at_most_one_byte_more_than_its_limit(self, store: Store) -> None:
        store.write("big", b"x" * 5000)
        store.write("small", b"abc")
        store.write("empty", b"")
        got = store.read_many(["big", "small", "empty", "none"], limit=1000)
        assert got["big"] == b"x" * 1001  # longer than the limit: the object is larger
        assert got["small"] == b"abc"
        assert got["empty"] == b""  # S3 answers 416 to a range of an empty object
        assert isinstance(got["none"], StoreNotFoundError)

    # -- listing --------------------------------------------------------------------------------
    def test_list_one_level_or_recursively(self, store: Store) -> None:
        store.write("a.txt", b"a")
        store.write("sub/b.txt", b"bb")
        store.write("sub/deeper/c.txt", b"ccc")

        assert store.list() == {"a.txt": 1}
        assert store.list(recursive=True) == {"a.txt": 1, "sub/b.txt": 2, "sub/deeper/c.txt": 3}
        assert store.list("sub") == {"sub/b.txt": 2}
        assert store.list("sub", recursive=True) == {"sub/b.txt": 2, "sub/deeper/c.txt": 3}

    def test_listing_a_missing_folder_is_empty(self, store: Store) -> None:
        assert store.list("nothing-here") == {}
        assert store.list("nothing-here", recursive=True) == {}
        assert store.list() == {}  # not even the root exists yet

    def test_listing_sees_writes_and_deletes_made_since(self, store: Store) -> None:
        # s3fs caches listings: a stale cache would hide a journal event just written.
        assert store.list("journal") == {}
        store.write("journal/1", b"x")
        assert store.list("journal") == {"journal/1": 1}
        store.write("journal/2", b"yy")
        assert store.list("journal", recursive=True) == {"journal/1": 1, "journal/2": 2}
        assert store.delete(["journal/1"]) == {}
        assert store.list("journal") == {"journal/2": 2}

    def test_list_versions_tags_change_only_for_the_objects_written_again(
        self, store: Store
    ) -> None:
        assert store.list_versions("presence") == {}
        store.write("presence/a.json", b"x")
        store.write("presence/b.json", b"y")
        first = store.list_versions("presence")
        assert sorted(first) == ["a.json", "b.json"]
        assert store.list_modified("presence") == {n: t for n, (t, _) in first.items()}
        store.write("presence/a.json", b"zz")
        second = store.list_versions("presence")
        assert second["a.json"][1] != first["a.json"][1]
        assert second["b.json"] == first["b.json"]

    def test_list_after_gives_the_stores_time_and_tag_of_each_newer_object(
        self, store: Store
    ) -> None:
        before = time.time()
        for name in ("a.json", "b.json", "c.json"):
            store.write(f"journal/{name}", name.encode())
        store.write("journal/sub/d.json", b"d")
        listing = store.list_after("journal", "a.json")
        assert [obj.name for obj in listing.objects] == ["b.json", "c.json"]
        # The store's clock (S3's Date is whole seconds): about now, and no object is newer.
        assert before - 2 <= listing.now <= time.time() + 2
        for obj in listing.objects:
            assert before - 2 <= obj.modified <= listing.now + 1
        if store.scheme in {"s3", "obs"}:  # a plain PUT's ETag is the MD5 of its bytes
            assert listing.objects[0].tag.strip('"') == digest_of(b"b.json")
        assert [o.name for o in store.list_after("journal", "").objects] == [
            "a.json",
            "b.json",
            "c.json",
        ]
        assert store.list_after("nothing-here", "").objects == []

    def test_exists(self, store: Store) -> None:
        assert not store.exists("thing")
        store.write("thing", b"1")
        assert store.exists("thing")
        assert store.delete(["thing"]) == {}
        assert not store.exists("thing")

    # -- copy and delete ------------------------------------------------------------------------
    def test_copy(self, store: Store) -> None:
        data = _pattern(3000)
        store.write("src/image.png", data)
        store.copy("src/image.png", "dst/renamed.png")
        assert store.read("dst/renamed.png") == data
        assert store.read("src/image.png") == data
        assert store.list(recursive=True) == {"src/image.png": 3000, "dst/renamed.png": 3000}

    def test_copy_of_a_missing_object_raises_not_found(self, store: Store) -> None:
        with pytest.raises(StoreNotFoundError):
            store.copy("absent", "anywhere")

    def test_delete_many(self, store: Store) -> None:
        rels = [f"d/{i}.txt" for i in range(20)]
        for rel in rels:
            store.write(rel, b"x")
        store.write("d/keep.txt", b"keep")

        assert store.delete(rels) == {}

        assert store.list("d", recursive=True) == {"d/keep.txt": 4}
        assert not any(store.exists(rel) for rel in rels[:3])

    def test_deleting_a_missing_object_is_not_an_error(self, store: Store) -> None:
        store.write("here", b"1")
        assert store.delete(["not-here", "here", "not/here/either"]) == {}
        assert store.list() == {}

    def test_delete_of_nothing(self, store: Store) -> None:
        assert store.delete([]) == {}

    # -- naming ---------------------------------------------------------------------------------
    def test_url_is_the_location_given(self, store: Store, store_location: StoreLocation) -> None:
        assert store.url == store_location.url
        assert store.url_of("") == store.url
        assert store.url_of("a/b.jpg") == store_location.url + "/a/b.jpg"
        assert store.url_of("/a/b.jpg/") == store.url_of("a/b.jpg")

    def test_url_opens_the_same_store_again(
        self, store: Store, store_location: StoreLocation
    ) -> None:
        store.write("sub/x", b"1")
        again = open_store(store.url + "/", store_location.storage_options)
        assert again.root == store.root
        assert again.read("sub/x") == b"1"
        sub = open_store(store.url_of("sub"), store_location.storage_options)
        assert sub.root == store.child("sub").root
        assert sub.read("x") == b"1"

    def test_relative_is_the_inverse_of_path(self, store: Store) -> None:
        assert store.relative(store.path("a/b/c.jpg")) == "a/b/c.jpg"
        assert store.path("") == store.root
        assert store.relative(store.root) is None
        assert store.relative(store.root + "-sibling/x") is None
        assert store.relative("/somewhere/else") is None

    def test_child_shares_the_filesystem_and_sees_the_same_objects(self, store: Store) -> None:
        child = store.child("labels")
        assert child.fs is store.fs
        assert child.url == store.url_of("labels")
        child.write("x.json", b"{}")
        assert store.read("labels/x.json") == b"{}"
        assert store.list(recursive=True) == {"labels/x.json": 2}
        assert child.list() == {"x.json": 2}

    def test_repr_names_the_url(self, store: Store) -> None:
        assert repr(store) == f"Store({store.url!r})"


# -- local folders ------------------------------------------------------------------------------
def _files_under(folder: Any) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


def test_local_write_leaves_no_temporary_file(tmp_path: Any) -> None:
    store = open_store(tmp_path)
    store.write("a/b/c.txt", b"1")
    store.write("a/b/c.txt", b"22", durable=False)
    assert _files_under(tmp_path) == [os.path.join("a", "b", "c.txt")]


def test_local_write_that_fails_leaves_the_old_file_and_no_temporary(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    store.write("x", b"old")

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(StoreError):
        store.write("x", b"new")
    monkeypatch.undo()
    assert store.read("x") == b"old"
    assert _files_under(tmp_path) == ["x"]


def test_local_readers_never_see_a_partial_file(tmp_path: Any) -> None:
    store = open_store(tmp_path)
    size = 512 * 1024
    versions = [bytes([65 + i]) * size for i in range(4)]
    store.write("manifest", versions[0])
    stop = threading.Event()
    writer_errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                i += 1
                store.write("manifest", versions[i % len(versions)], durable=False)
        except BaseException as exc:  # reported below, on the test's thread
            writer_errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        seen = set()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            data = store.read("manifest")
            assert data in versions, f"a reader saw {len(data)} bytes of a partial write"
            seen.add(data[:1])
            # A listing taken mid-write shows the object once, never the temporary file.
            assert store.list() == {"manifest": size}
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not writer_errors
    assert len(seen) > 1, "the writer never got a turn: the test proved nothing"
    assert _files_under(tmp_path) == ["manifest"]


def test_local_listing_skips_a_crashed_writers_temporary_file(tmp_path: Any) -> None:
    store = open_store(tmp_path)
    store.write("journal/1", b"event")
    (tmp_path / "journal" / ".tmp-0123456789abcdef").write_bytes(b"half an ev")
    assert store.list("journal") == {"journal/1": 5}


def test_local_path_forms(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_store("data").root == str(tmp_path / "data")
    assert open_store(f"file://{tmp_path}/data/").root == str(tmp_path / "data")
    assert open_store(tmp_path / "data").url == str(tmp_path / "data")


# -- S3 and OBS specifics ---------------------------------------------------------------------
@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unreachable_location(scheme: str, port: int) -> StoreLocation:
    options: dict[str, Any] = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": FAKE_KEY,
        "secret": LEAK_CANARY,
        **FAST_FAIL,
    }
    if scheme == "obs":
        options["addressing_style"] = "path"
    return StoreLocation(f"{scheme}://bucket/prefix", options)


def _assert_no_secret(*things: object) -> None:
    for thing in things:
        texts = [str(thing), repr(thing)]
        if isinstance(thing, BaseException):
            # The whole chain as a traceback would print it, botocore's errors included.
            texts.append("".join(traceback.format_exception(thing)))
        for text in texts:
            assert LEAK_CANARY not in text, text


@pytest.mark.parametrize("scheme", ["s3", "obs"])
def test_an_unreachable_endpoint_fails_fast_with_unavailable(scheme: str, closed_port: int) -> None:
    store = open_store(*_unreachable_location(scheme, closed_port))
    started = time.monotonic()
    errors: list[BaseException] = []
    for call in (
        lambda: store.read("x"),
        lambda: store.write("x", b"1"),
        lambda: store.list(),
        lambda: store.list(recursive=True),
        lambda: store.exists("x"),
        lambda: store.copy("x", "y"),
    ):
        with pytest.raises(StoreUnavailableError) as info:
            call()
        errors.append(info.value)
    many = store.read_many(["a", "b"])
    failed = store.delete(["a", "b"])
    assert all(isinstance(v, StoreUnavailableError) for v in many.values()), many
    assert set(failed) == {"a", "b"}
    assert all(isinstance(v, StoreUnavailableError) for v in failed.values()), failed
    assert time.monotonic() - started < 10
    assert "cannot reach the store" in str(errors[0])
    assert errors[0].url == f"{scheme}://bucket/prefix/x"
    _assert_no_secret(store, *errors, *many.values(), *failed.values())


@pytest.mark.parametrize("scheme", ["s3", "obs"])
def test_a_missing_bucket_is_not_found_and_says_so(
    scheme: str, s3_options: dict[str, Any], obs_options: dict[str, Any]
) -> None:
    options = {**(s3_options if scheme == "s3" else obs_options), "secret": LEAK_CANARY}
    store = open_store(f"{scheme}://no-such-bucket/prefix", options)
    errors = []
    for call in (
        lambda: store.read("x"),
        lambda: store.write("x", b"1"),
        lambda: store.list(),  # a wrong bucket must not look like an empty dataset
        lambda: store.list(recursive=True),
    ):
        with pytest.raises(StoreNotFoundError) as info:
            call()
        assert "bucket does not exist" in str(info.value)
        errors.append(info.value)
    assert isinstance(store.read_many(["x"])["x"], StoreNotFoundError)
    _assert_no_secret(store, *errors)


def test_obs_without_an_endpoint_says_how_to_give_one() -> None:
    with pytest.raises(StoreError, match="OBS_ENDPOINT"):
        open_store("obs://bucket/prefix")
    with pytest.raises(StoreError, match="OBS_ENDPOINT"):
        open_store("obs://bucket/prefix", {"key": FAKE_KEY, "secret": LEAK_CANARY})


@pytest.mark.parametrize("url", ["obs://", "s3:///", "s3a://"])
def test_a_url_without_a_bucket_is_refused(url: str) -> None:
    with pytest.raises(StoreError, match="names no bucket"):
        open_store(url, {"endpoint_url": "http://127.0.0.1:1"})


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="unsupported location"):
        open_store("ftp://host/folder")


def test_obs_defaults_to_virtual_hosting_and_no_default_checksums() -> None:
    store = open_store("obs://bucket/prefix", {"endpoint_url": "http://127.0.0.1:1"})
    config = store.fs.config_kwargs
    assert config["s3"]["addressing_style"] == "virtual"
    assert config["signature_version"] == "s3v4"
    assert config["request_checksum_calculation"] == "when_required"
    assert config["response_checksum_validation"] == "when_required"
    # ... and botocore's client really got them (building one sends no request).
    store.fs.connect()
    client_config = store.fs.s3.meta.config
    assert client_config.s3["addressing_style"] == "virtual"
    assert client_config.request_checksum_calculation == "when_required"
    assert client_config.response_checksum_validation == "when_required"


def test_obs_options_keep_what_the_caller_chose() -> None:
    store = open_store(
        "obs://bucket/prefix",
        {
            "endpoint_url": "http://127.0.0.1:1",
            "addressing_style": "path",
            "config_kwargs": {"connect_timeout": 3, "s3": {"use_accelerate_endpoint": False}},
        },
    )
    config = store.fs.config_kwargs
    assert config["s3"] == {"use_accelerate_endpoint": False, "addressing_style": "path"}
    assert config["connect_timeout"] == 3
    assert config["request_checksum_calculation"] == "when_required"


def test_obs_from_environment_variables(obs_env: dict[str, str], s3_bucket: str) -> None:
    store = open_store(f"obs://{s3_bucket}/from-env")
    assert store.fs.endpoint_url == obs_env["OBS_ENDPOINT"]
    assert store.fs.config_kwargs["s3"]["addressing_style"] == "path"
    store.write("x", b"1")
    assert store.read("x") == b"1"


def test_obs_virtual_hosted_addressing_end_to_end(
    obs_virtual_options: dict[str, Any], obs_proxy: ObsProxy, s3_bucket: str
) -> None:
    store = open_store(f"obs://{s3_bucket}/virtual", obs_virtual_options)
    store.write("a/1.jpg", b"one")
    assert store.read_many(["a/1.jpg"]) == {"a/1.jpg": b"one"}
    assert store.list(recursive=True) == {"a/1.jpg": 3}
    assert store.delete(["a/1.jpg"]) == {}
    seen = obs_proxy.requests
    assert seen
    assert all(r.bucket == s3_bucket and r.outcome == "forwarded" for r in seen), seen


def test_obs_requests_carry_no_checksum_headers(
    obs_options: dict[str, Any], obs_proxy: ObsProxy, s3_bucket: str
) -> None:
    store = open_store(f"obs://{s3_bucket}/prefix", obs_options)
    store.write("small", b"x")
    store.write("large", _pattern(6 * 1024 * 1024))
    store.copy("small", "copied")
    store.read_many(["small", "large", "copied"])
    store.list(recursive=True)
    store.delete(["small", "large", "copied"])

    seen = obs_proxy.requests
    assert {r.method for r in seen} >= {"PUT", "GET", "DELETE"}
    for r in seen:
        assert r.outcome == "forwarded", r
        bad = [
            h
            for h in r.headers
            if h.startswith("x-amz-checksum") or h == "x-amz-sdk-checksum-algorithm"
        ]
        assert not bad, (r.method, r.path, bad)
        assert not r.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")


def test_obs_deletes_go_one_by_one(
    obs_options: dict[str, Any], obs_proxy: ObsProxy, s3_bucket: str
) -> None:
    store = open_store(f"obs://{s3_bucket}/prefix", obs_options)
    rels = [f"img/{i}.jpg" for i in range(12)]
    for rel in rels:
        store.write(rel, b"x")
    obs_proxy.reset()

    assert store.delete([*rels, "img/missing.jpg"]) == {}

    seen = obs_proxy.requests
    assert not [r for r in seen if r.method == "POST"], "a multi-object DELETE was sent"
    assert obs_proxy.counts["DELETE"] == len(rels) + 1
    assert store.list("img") == {}


# -- the OBS-like proxy itself --------------------------------------------------------------------
def _client(endpoint: str, *, checksums: str = "when_required", style: str = "path") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        config=botocore.config.Config(
            request_checksum_calculation=checksums,
            response_checksum_validation="when_required",
            s3={"addressing_style": style},
            retries={"total_max_attempts": 1},
        ),
    )


def _error_code(info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


class TestObsProxy:
    """The proxy refuses what OBS refuses, so the tests above mean something."""

    def test_refuses_a_multi_object_delete_without_content_md5(
        self, obs_proxy: ObsProxy, s3_bucket: str
    ) -> None:
        client = _client(obs_proxy.url)
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"1")
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": "k"}]})
        assert _error_code(info) == (
            "InvalidRequest",
            "Missing required header for this request: Content-MD5",
        )
        assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"1"

    def test_refuses_default_payload_checksums(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        client = _client(obs_proxy.url, checksums="when_supported")
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.put_object(Bucket=s3_bucket, Key="k", Body=b"1")
        assert _error_code(info)[0] == "InvalidArgument"

    @pytest.mark.parametrize(
        "header",
        [
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("Content-Encoding", "aws-chunked"),
        ],
        ids=lambda h: h[0],
    )
    def test_refuses_each_checksum_header(
        self, obs_proxy: ObsProxy, s3_bucket: str, header: tuple[str, str]
    ) -> None:
        status, body = _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"1", {header[0]: header[1]})
        assert status == 400
        assert b"<Code>InvalidArgument</Code>" in body

    def test_ignores_conditional_put(
        self, obs_proxy: ObsProxy, s3_bucket: str, s3_client: Any
    ) -> None:
        # moto itself honors If-None-Match, so the proxy is what makes this pass.
        s3_client.put_object(Bucket=s3_bucket, Key="direct", Body=b"1", IfNoneMatch="*")
        with pytest.raises(botocore.exceptions.ClientError):
            s3_client.put_object(Bucket=s3_bucket, Key="direct", Body=b"2", IfNoneMatch="*")

        client = _client(obs_proxy.url)
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"1", IfNoneMatch="*")
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfNoneMatch="*")
        assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"2"

    def test_refuses_path_style_unless_allowed(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.allow_path_style = False
        client = _client(obs_proxy.url)
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.put_object(Bucket=s3_bucket, Key="k", Body=b"1")
        assert _error_code(info)[0] == "InvalidRequest"
        obs_proxy.allow_path_style = True
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"1")

    def test_translates_virtual_hosted_requests(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.allow_path_style = False
        host = f"{s3_bucket}.localhost:{obs_proxy.port}"
        status, _ = _raw(obs_proxy, "PUT", "/a/b.txt", b"hello", {"Host": host})
        assert status == 200
        status, body = _raw(obs_proxy, "GET", "/a/b.txt", headers={"Host": host})
        assert (status, body) == (200, b"hello")
        status, body = _raw(obs_proxy, "GET", "/?list-type=2", headers={"Host": host})
        assert status == 200
        assert b"<Key>a/b.txt</Key>" in body

    def test_counts_requests_by_method(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"1")
        _raw(obs_proxy, "GET", f"/{s3_bucket}/k")
        _raw(obs_proxy, "HEAD", f"/{s3_bucket}/k")
        assert obs_proxy.counts == {"PUT": 1, "GET": 1, "HEAD": 1}
        obs_proxy.reset()
        assert obs_proxy.counts == {}

    def test_head_keeps_the_object_length(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"12345")
        conn = http.client.HTTPConnection("127.0.0.1", obs_proxy.port, timeout=5)
        try:
            conn.request("HEAD", f"/{s3_bucket}/k", headers={"Authorization": _FAKE_AUTH})
            response = conn.getresponse()
            response.read()
            assert response.getheader("Content-Length") == "5"
        finally:
            conn.close()

    def test_http500_then_normal(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"1")
        obs_proxy.fail_next(1, "http500")
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k")[0] == 500
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k") == (200, b"1")

    def test_fault_only_for_the_method_named(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.fail_next(1, "http500", method="GET")
        assert _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"1")[0] == 200
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k")[0] == 500
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k")[0] == 200

    def test_refuse_closes_the_connection_unanswered(
        self, obs_proxy: ObsProxy, s3_bucket: str
    ) -> None:
        obs_proxy.fail_next(2, "refuse")
        for _ in range(2):
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                _raw(obs_proxy, "GET", f"/{s3_bucket}/k")
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k")[0] == 404

    def test_hang_is_bounded(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.fail_next(1, "hang", seconds=0.3)
        started = time.monotonic()
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            _raw(obs_proxy, "GET", f"/{s3_bucket}/k", timeout=5)
        assert 0.25 < time.monotonic() - started < 3

    def test_hang_outlasts_a_client_timeout(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.fail_next(1, "hang", seconds=2)
        with pytest.raises(TimeoutError):
            _raw(obs_proxy, "GET", f"/{s3_bucket}/k", timeout=0.2)

    def test_drop_mid_body(self, obs_proxy: ObsProxy, s3_bucket: str) -> None:
        obs_proxy.fail_next(1, "drop_mid_body", method="PUT")
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            _raw(obs_proxy, "PUT", f"/{s3_bucket}/k", b"x" * 200_000)
        assert _raw(obs_proxy, "GET", f"/{s3_bucket}/k")[0] == 404  # nothing half-stored
        assert obs_proxy.requests[0].outcome == "drop_mid_body"

    def test_fault_modes_are_checked(self, obs_proxy: ObsProxy) -> None:
        with pytest.raises(ValueError, match="unknown fault mode"):
            obs_proxy.fail_next(1, "explode")
        with pytest.raises(ValueError, match="unknown fault mode"):
            obs_proxy.stop_answering("explode")

    def test_a_store_sees_an_outage_and_recovers(
        self, obs_proxy: ObsProxy, obs_options: dict[str, Any], s3_bucket: str
    ) -> None:
        store = open_store(f"obs://{s3_bucket}/p", {**obs_options, **FAST_FAIL})
        # s3fs retries a dropped connection itself too (class attribute, 5 tries with back-off,
        # no storage option for it); this filesystem instance is this test's own.
        store.fs.retries = 1
        store.write("x", b"1")
        obs_proxy.stop_answering()
        with pytest.raises(StoreUnavailableError):
            store.read("x")
        obs_proxy.resume()
        assert store.read("x") == b"1"

    def test_a_store_retries_past_one_server_error(
        self, obs_proxy: ObsProxy, obs_options: dict[str, Any], s3_bucket: str
    ) -> None:
        store = open_store(f"obs://{s3_bucket}/p", obs_options)
        store.write("x", b"1")
        obs_proxy.reset()
        obs_proxy.fail_next(1, "http500", method="GET")
        assert store.read("x") == b"1"
        assert [r.outcome for r in obs_proxy.requests if r.method == "GET"] == [
            "http500",
            "forwarded",
        ]

    def test_listens_on_loopback_only(self, obs_proxy: ObsProxy) -> None:
        assert obs_proxy._server is not None
        assert obs_proxy._server.server_address[0] == "127.0.0.1"


def _raw(
    proxy: ObsProxy,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, bytes]:
    """One unsigned request to the proxy (moto does not check signatures)."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        sent = {"Authorization": _FAKE_AUTH, **(headers or {})}
        if "Host" in sent:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body)
        else:
            conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# moto tells services apart by the credential scope of the Authorization header.
_FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
