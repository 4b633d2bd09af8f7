"""Fake AWS for the benchmarks that run moto: call :func:`use_fake_aws` before botocore is
imported, so that the real AWS configuration is never read; :func:`server_in_child` runs a
server in a child process, as a real store runs elsewhere."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from typing import Any


def use_fake_aws() -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1"]))


@contextlib.contextmanager
def server_in_child(serve: Callable[[Any, Any], None], *, timeout: float) -> Iterator[str]:
    """Run ``serve(queue, stop)`` in a spawned child process and yield ``http://host:port``.

    ``serve`` puts its ``(host, port)`` on ``queue`` (within ``timeout`` seconds) once it
    listens, and serves until ``stop`` is set; it must be a module-level function, since the
    child imports it anew.
    """
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve, args=(queue, stop), daemon=True)
    child.start()
    try:
        host, port = queue.get(timeout=timeout)
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.terminate()
            child.join(5)
