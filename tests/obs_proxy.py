"""An OBS-like object store for tests: a small HTTP proxy on 127.0.0.1 in front of moto.

moto speaks S3 as AWS does. Huawei OBS speaks the same protocol with a few differences that
have bitten S3 clients, and this proxy reproduces them so that tests catch a regression:

- a multi-object DELETE (``POST /?delete``) without ``Content-MD5`` is refused (400
  ``InvalidRequest``), as OBS documents; current botocore no longer sends that header;
- the newer payload checksums are refused (400 ``InvalidArgument``): any ``x-amz-checksum-*``
  or ``x-amz-sdk-checksum-algorithm`` header, a ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` content
  hash and an ``aws-chunked`` content encoding;
- ``If-Match`` / ``If-None-Match`` on PUT are dropped before moto sees them: OBS documents no
  conditional PUT, so a client must never rely on one;
- path-style requests (``Host: 127.0.0.1:port``, ``/bucket/key``) are refused unless
  ``allow_path_style`` is true; virtual-hosted ones (``Host: bucket.localhost:port``) are
  translated to path style for moto.

moto does not verify request signatures (unless told to), so rewriting the Host header and
dropping signed ``If-Match`` headers on the way does not break anything.

For reliability tests it can also misbehave on purpose::

    proxy.fail_next(2, "http500")          # the next two requests get a 500
    proxy.fail_next(1, "hang", seconds=3)  # the next request gets no answer for 3 s
    proxy.stop_answering()                 # every request is refused until resume()
    proxy.resume()
    proxy.counts["DELETE"]                 # requests seen, by method
    proxy.requests                         # what was seen: method, path, query, headers

Everything is bounded: a hang never lasts more than :data:`MAX_HANG_SECONDS` and ends at once
when the proxy stops; the proxy only listens on 127.0.0.1.
"""

from __future__ import annotations

import collections
import http.client
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["FAULT_MODES", "MAX_HANG_SECONDS", "ObsProxy", "SeenRequest"]

FAULT_MODES = ("refuse", "hang", "drop_mid_body", "http500")
MAX_HANG_SECONDS = 30.0

# Headers that describe one hop of a connection (or that the proxy sets itself): never copied.
_NOT_COPIED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
        "content-length",
    }
)
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*[a-z0-9])\.localhost(?::\d+)?$", re.I)


@dataclass(frozen=True)
class SeenRequest:
    """One request as the proxy received it (before any rewriting)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    bucket: str | None  # the bucket named by a virtual-hosted Host header, if any
    outcome: str = "forwarded"  # or the OBS error code, or the fault mode


@dataclass
class _Fault:
    mode: str
    remaining: int
    method: str | None
    seconds: float


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[_Fault] = field(default_factory=list)
    stopped_mode: str | None = None
    stopped_seconds: float = 0.0
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: list[SeenRequest] = field(default_factory=list)


def _error_body(code: str, message: str, resource: str) -> bytes:
    request_id = uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId>"
        f"<HostId>obs-proxy</HostId></Error>"
    ).encode()


class ObsProxy:
    """A threaded HTTP proxy on 127.0.0.1 that behaves as OBS does, in front of an S3 server.

    ``upstream`` is the S3 server's base URL (``http://127.0.0.1:<port>``). Use it as a context
    manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, upstream: str, *, allow_path_style: bool = False, port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.allow_path_style = allow_path_style
        self._allow_path_style_default = allow_path_style
        self.upstream_timeout = 30.0
        self._requested_port = port
        self._state = _State()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> ObsProxy:
        handler = type("_BoundHandler", (_Handler,), {"proxy": self})
        server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), handler)
        server.daemon_threads = True
        # Clients keep idle connections open; closing must not wait for them.
        server.block_on_close = False
        self._server = server
        self._closing.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # wakes every hanging handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ObsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint for path-style clients (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def virtual_host_url(self) -> str:
        """The endpoint for virtual-hosted clients: buckets become ``<bucket>.localhost``."""
        return f"http://localhost:{self.port}"

    # -- faults -------------------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, mode: str = "refuse", *, method: str | None = None, seconds: float = 5.0
    ) -> None:
        """Make the next ``n`` requests (of ``method``, if given) fail in the way ``mode`` says.

        - ``"refuse"``: the connection is closed at once, with no answer;
        - ``"hang"``: no answer for ``seconds`` (capped at :data:`MAX_HANG_SECONDS`), then close;
        - ``"drop_mid_body"``: read half of the request body, then close the connection;
        - ``"http500"``: answer ``500 InternalError`` (the request is not forwarded).

        Faults queue up in the order given.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}: use one of {FAULT_MODES}")
        if n < 1:
            raise ValueError("n must be at least 1")
        fault = _Fault(mode, n, method.upper() if method else None, _cap(seconds))
        with self._state.lock:
            self._state.faults.append(fault)

    def stop_answering(self, mode: str = "refuse", *, seconds: float = 5.0) -> None:
        """Fail every request (as :meth:`fail_next` ``mode`` does) until :meth:`resume`."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}: use one of {FAULT_MODES}")
        with self._state.lock:
            self._state.stopped_mode = mode
            self._state.stopped_seconds = _cap(seconds)

    def resume(self) -> None:
        """Answer again, and forget faults still queued by :meth:`fail_next`."""
        with self._state.lock:
            self._state.stopped_mode = None
            self._state.faults.clear()

    def reset(self) -> None:
        """Back to a fresh proxy: no faults, counters at zero, path style as constructed."""
        with self._state.lock:
            self._state.faults.clear()
            self._state.stopped_mode = None
            self._state.counts.clear()
            self._state.requests.clear()
        self.allow_path_style = self._allow_path_style_default

    def _take_fault(self, method: str) -> tuple[str, float] | None:
        with self._state.lock:
            if self._state.stopped_mode is not None:
                return self._state.stopped_mode, self._state.stopped_seconds
            for fault in self._state.faults:
                if fault.method is None or fault.method == method:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._state.faults.remove(fault)
                    return fault.mode, fault.seconds
        return None

    # -- what was seen ------------------------------------------------------------------------
    @property
    def counts(self) -> collections.Counter[str]:
        """A copy of the number of requests seen, by HTTP method."""
        with self._state.lock:
            return collections.Counter(self._state.counts)

    @property
    def requests(self) -> list[SeenRequest]:
        """A copy of every request seen since the last :meth:`reset`, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def _record(self, seen: SeenRequest) -> None:
        with self._state.lock:
            self._state.counts[seen.method] += 1
            self._state.requests.append(seen)


def _cap(seconds: float) -> float:
    return max(0.0, min(float(seconds), MAX_HANG_SECONDS))


class _Handler(BaseHTTPRequestHandler):
    proxy: ObsProxy  # set on the per-proxy subclass
    protocol_version = "HTTP/1.1"  # keep-alive, as a real store offers
    timeout = 60  # an idle keep-alive connection ends after this (seconds)
    server_version = "OBS"

    def log_message(self, format: str, *args: object) -> None:
        # Tests read proxy.requests; a line per request on stderr would only be noise.
        return

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    # -- the request --------------------------------------------------------------------------
    def _handle(self) -> None:
        method = self.command
        split = urlsplit(self.path)
        path, query = split.path or "/", split.query
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = headers.get("host", "")
        match = _VIRTUAL_HOST.match(host)
        bucket = match.group("bucket") if match else None

        def record(outcome: str) -> None:
            self.proxy._record(
                SeenRequest(
                    method=method,
                    host=host,
                    path=path,
                    query=parse_qs(query, keep_blank_values=True),
                    headers=headers,
                    bucket=bucket,
                    outcome=outcome,
                )
            )

        fault = self.proxy._take_fault(method)
        if fault is not None:
            record(fault[0])
            self._misbehave(*fault)
            return

        body = self._read_body()
        if body is None:  # the client went away mid-body
            record("client-disconnected")
            self.close_connection = True
            return

        resource = path
        refusal = self._obs_refusal(method, path, query, headers, bucket)
        if refusal is not None:
            status, code, message = refusal
            record(code)
            self._reply(status, _error_body(code, message, resource))
            return

        target = f"/{bucket}{path}" if bucket else path
        if query:
            target += "?" + query
        forwarded = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in _NOT_COPIED
            and not (method == "PUT" and k.lower() in {"if-match", "if-none-match"})
        }
        forwarded["Host"] = f"{self.proxy.upstream_host}:{self.proxy.upstream_port}"
        if body or method in {"PUT", "POST"}:
            forwarded["Content-Length"] = str(len(body))
        record("forwarded")
        conn = http.client.HTTPConnection(
            self.proxy.upstream_host, self.proxy.upstream_port, timeout=self.proxy.upstream_timeout
        )
        try:
            conn.request(method, target, body=body or None, headers=forwarded)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
        except OSError as exc:
            # The store behind us failed: say so as a real store's gateway would.
            self._reply(502, _error_body("BadGateway", type(exc).__name__, resource))
            return
        finally:
            conn.close()
        self.send_response(status, reason)
        length_sent = False
        for name, value in resp_headers:
            lower = name.lower()
            if lower in _NOT_COPIED and not (lower == "content-length" and method == "HEAD"):
                continue
            if lower in {"server", "date"}:
                continue  # send_response wrote ours
            length_sent = length_sent or lower == "content-length"
            self.send_header(name, value)
        if method != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        elif not length_sent:
            self.send_header("Content-Length", "0")
        self.end_headers()
        if method != "HEAD" and data:
            self.wfile.write(data)

    def _obs_refusal(
        self, method: str, path: str, query: str, headers: dict[str, str], bucket: str | None
    ) -> tuple[int, str, str] | None:
        """The (status, code, message) OBS would answer with instead of serving, or None."""
        if bucket is None and path != "/" and not self.proxy.allow_path_style:
            return (
                400,
                "InvalidRequest",
                "Path-style requests are not supported: use virtual-hosted addressing"
                " (bucket.endpoint)",
            )
        params = parse_qs(query, keep_blank_values=True)
        if method == "POST" and "delete" in params and "content-md5" not in headers:
            return 400, "InvalidRequest", "Missing required header for this request: Content-MD5"
        for name, value in headers.items():
            if name.startswith("x-amz-checksum-") or name == "x-amz-sdk-checksum-algorithm":
                return 400, "InvalidArgument", f"Unsupported header: {name}"
            if name == "x-amz-content-sha256" and value.upper().startswith("STREAMING-"):
                return 400, "InvalidArgument", f"Unsupported x-amz-content-sha256: {value}"
            if name == "content-encoding" and "aws-chunked" in value.lower():
                return 400, "InvalidArgument", "Unsupported Content-Encoding: aws-chunked"
        return None

    # -- bodies -------------------------------------------------------------------------------
    def _read_body(self) -> bytes | None:
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
        except (OSError, ValueError):
            return None
        return data if len(data) == length else None

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise ConnectionError("the client closed the connection mid-body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: OBS would refuse the ones that matter before this
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- faults -------------------------------------------------------------------------------
    def _misbehave(self, mode: str, seconds: float) -> None:
        if mode == "http500":
            if self._read_body() is None:
                self.close_connection = True
                return
            self._reply(500, _error_body("InternalError", "We encountered an internal error.", ""))
            return
        if mode == "hang":
            self.proxy._closing.wait(seconds)
        elif mode == "drop_mid_body":
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length // 2)
        self._drop()

    def _drop(self) -> None:
        """Close the connection without a word, as a dying server or a cut network does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            return  # already gone: nothing more to cut
