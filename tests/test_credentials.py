"""Credentials never show: not in a repr, an error message, a log line (botocore's and s3fs's
debug logs included), the widget, or any object written to the store.

A distinctive secret is given as the access key, secret key and session token, through
``storage_options`` and through the ``OBS_*`` variables; the test works normally, then fails on
purpose (store down, missing bucket, nothing listening), and searches everything it gathered.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import ipywidgets
import pytest
from imagegen import image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.errors import StoreError, StoreNotFoundError, StoreUnavailableError
from jupyter_labeler.widget import Labeler

pytest_plugins = ["summary_plugin"]

MARK = "SECRET-DO-NOT-LEAK-1234"
KEY = f"AKID-{MARK}"
SECRET = MARK
TOKEN = f"TOKEN-{MARK}"
DEBUG_LOGGERS = ("", "botocore", "aiobotocore", "s3fs", "fsspec", "urllib3", "jupyter_labeler")


def error_texts(exc: BaseException) -> list[str]:
    """The message, repr and traceback of an error and of everything that caused it."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current = current.__cause__ or current.__context__
    return texts


def widget_texts(root: ipywidgets.Widget) -> list[str]:
    texts, seen, stack = [], set(), [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        for trait in ("value", "description", "tooltip", "placeholder"):
            value = getattr(widget, trait, None)
            if isinstance(value, str):
                texts.append(value)
        stack.extend(getattr(widget, "children", ()) or ())
    return texts


@pytest.fixture(params=["obs-storage-options", "obs-environment", "s3-storage-options"])
def secret_location(
    request: pytest.FixtureRequest,
    obs_proxy: Any,
    s3_endpoint: str,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(url, storage_options, how) with the secret as every credential."""
    for i in range(6):
        s3_client.put_object(Bucket=s3_bucket, Key=f"images/img_{i}.jpg", Body=image_bytes(i))
    if request.param == "obs-storage-options":
        options = {
            "endpoint_url": obs_proxy.url,
            "addressing_style": "path",
            "key": KEY,
            "secret": SECRET,
            "token": TOKEN,
        }
        yield f"obs://{s3_bucket}/images", options, request.param
    elif request.param == "obs-environment":
        monkeypatch.setenv("OBS_ENDPOINT", obs_proxy.url)
        monkeypatch.setenv("OBS_ADDRESSING_STYLE", "path")
        monkeypatch.setenv("OBS_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", SECRET)
        yield f"obs://{s3_bucket}/images", {}, request.param
    else:
        options = {"endpoint_url": s3_endpoint, "key": KEY, "secret": SECRET, "token": TOKEN}
        yield f"s3://{s3_bucket}/images", options, request.param
    obs_proxy.resume()


def test_credentials_never_show(
    secret_location: tuple[str, dict[str, Any], str],
    obs_proxy: Any,
    s3_bucket: str,
    s3_client: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Any,
) -> None:
    url, options, how = secret_location
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    errors: list[BaseException] = []

    ds = Dataset.open(url, storage_options=options, author="alice")
    ids = sorted(ds.ids())
    lab = Labeler(ds, page_size=12)
    texts += [repr(ds), str(ds), repr(ds.source), repr(ds.output), repr(ds.source.fs)]
    texts += [ds.source_url, ds.output_url, ds.manifest_url, repr(ds.status), str(ds.status)]
    result = ds.add_label("roses", ids[:3])
    texts += [repr(result), str(result)]
    upload = ds.add_images({"new.jpg": image_bytes(9), "bad.jpg": b"text"})
    texts += [repr(upload), str(upload)]
    texts.append(ds.save())
    texts.append(repr(ds.readiness()))
    reliability.case()

    # Failures, on purpose.
    if how.startswith("obs"):
        obs_proxy.stop_answering("refuse")
        reliability.fault()
        pending = ds.add_label("tulips", ids[3:5])
        assert pending.saved is False
        texts += [repr(pending), str(pending), repr(ds.status), str(ds.status)]
        texts += widget_texts(lab)
        for attempt in (ds.refresh, lambda: Dataset.open(url, storage_options=options)):
            with pytest.raises(StoreUnavailableError) as down:
                attempt()
            errors.append(down.value)
        obs_proxy.resume()
        assert ds.flush(timeout=10)
        reliability.case()
    missing = url.replace(f"//{s3_bucket}/", "//no-such-bucket-here/")
    with pytest.raises(StoreNotFoundError) as not_found:
        Dataset.open(missing, storage_options=options)
    errors.append(not_found.value)
    reliability.fault()
    nowhere = {**options, "endpoint_url": "http://127.0.0.1:9"} if options else options
    if options:
        with pytest.raises(StoreUnavailableError) as unreachable:
            Dataset.open(url, storage_options=nowhere)
        errors.append(unreachable.value)
        reliability.fault()
    # The widget's own error path: an action refused, shown on the status line.
    lab.status.guard(lambda: (_ for _ in ()).throw(errors[-1]))()
    texts += widget_texts(lab)
    lab.status.clear_error()
    # A Labeler opened from the URL itself.
    opened = Labeler(url, storage_options=options) if options else Labeler(url)
    texts += [*widget_texts(opened), repr(opened.dataset)]
    opened.close()
    lab.close()
    ds.close()
    reliability.case(len(errors))

    for error in errors:
        assert isinstance(error, StoreError)
        texts += error_texts(error)
    texts += [caplog.text] + [record.getMessage() for record in caplog.records]
    for obj in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []):
        body = s3_client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read()
        texts.append(obj["Key"])
        texts.append(body.decode("utf-8", "replace"))
        assert MARK.encode() not in body, obj["Key"]
    # The search means something only if the debug logs of the S3 client were captured.
    assert any(r.name.startswith("botocore") for r in caplog.records)
    leaks = [t for t in texts if MARK in t]
    assert leaks == [], f"the credential shows in: {[t[:300] for t in leaks][:3]}"
