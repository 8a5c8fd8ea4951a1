"""Registry-tier helpers: a loopback proxy that cuts the session server off after a chosen request."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import urlparse

import pytest

#: Headers that belong to one connection, not to the request; never forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as MLflow's client uses it
    timeout = 30  # an idle kept-alive connection ends its thread
    # The headers and the body are two writes: with Nagle's algorithm the body waits for the client's
    # delayed ACK, about 40 ms per request on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # no access log on stderr
        pass

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _relay(self) -> None:
        proxy = cast(_RelayServer, self.server).proxy
        body = self._body()
        if not proxy.admit():  # the server "died": drop the connection, answer nothing
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
        upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay


class _RelayServer(ThreadingHTTPServer):
    """The relay's server, holding the proxy its handlers consult."""

    proxy: CuttingProxy


class CuttingProxy:
    """An HTTP proxy on 127.0.0.1 in front of one server, forwarding requests until it is told to stop.

    After :meth:`cut_after` ``(k)`` it forwards the next ``k`` requests and answers them; every later request
    is read, never forwarded, and its connection dropped: the server died after request ``k``. Each request
    is handled on its own thread, and idle connections end after 30 s.
    """

    def __init__(self, upstream: str) -> None:
        parsed = urlparse(upstream)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port
        self.limit: int | None = None
        self.count = 0
        self._lock = threading.Lock()
        self._server = _RelayServer(("127.0.0.1", 0), _Relay)
        self._server.daemon_threads = True
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="cutting-proxy", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def cut_after(self, limit: int | None) -> None:
        """Forward ``limit`` more requests, then none (``None``: forward everything); restart the count."""
        with self._lock:
            self.limit, self.count = limit, 0

    def admit(self) -> bool:
        """Count one request; True when it may reach the server."""
        with self._lock:
            self.count += 1
            return self.limit is None or self.count <= self.limit

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def cutting_proxy(mlflow_server):
    """A :class:`CuttingProxy` in front of the session's MLflow server (forwarding everything at first)."""
    proxy = CuttingProxy(mlflow_server.uri)
    yield proxy
    proxy.close()
