"""The Azure-rules stand-in: a loopback proxy before a real MLflow server, refusing what Azure ML refuses.

Azure ML's MLflow API is a subset of MLflow's. Code that only ever runs against a full MLflow server never
meets the refusals, so its Azure branches go untested. This proxy forwards every request to a real local
MLflow server and answers, instead of forwarding, the requests listed in :data:`RULES`, each with the source
saying why Azure ML refuses it. Point a client (a notebook's ``tracking_uri``, ``MLFLOW_TRACKING_URI``, a
test) at :attr:`AzureRulesProxy.uri` and it meets those refusals on 127.0.0.1, with no cloud.

What it cannot tell you: the exact status codes and messages of the real service (not documented; the ones
here are plausible MLflow errors), and anything Azure does differently without refusing (a filter silently
ignored, an order not kept). Those need a real workspace; ``docs/azure.md`` lists them.

Faults, for tests (:meth:`AzureRulesProxy.inject`): the next requests matching a path can be answered with
:data:`THROTTLE` (HTTP 429 with ``Retry-After``, not forwarded: the server never sees it), or with
:data:`TIMED_OUT_AFTER_COMMIT` (forwarded, so the server commits, then answered 504 as a gateway whose
upstream took too long: the client cannot tell whether its create happened).

Rehearse the course under Azure's rules (starts or reuses the local server, then serves the stand-in in front
of it and prints the tracking URI to use)::

    python -m labhelpers server azure-rules
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from labhelpers.foundation import config

_MANAGE = "https://learn.microsoft.com/azure/machine-learning/how-to-manage-models-mlflow"
#: The page whose "support matrix for querying runs and experiments" lists what run search lacks on Azure ML.
_RUNS = "https://learn.microsoft.com/azure/machine-learning/how-to-track-experiments-mlflow"
_API = r"^/(?:ajax-)?api/2\.0/mlflow"
#: The only version-search filter Azure ML's documentation shows: one quoted name, compared with "=". The
#: quoted part may not contain its own quote, so ``name='X' and run_id='r'`` is not one name.
_NAME_ONLY = re.compile(r"""^\s*name\s*=\s*(?:'[^']*'|"[^"]*")\s*$""", re.IGNORECASE)
#: A string literal of a filter (MLflow quotes values with ' or "); its text is blanked before keywords and
#: operators are looked for, so a value such as 'A OR B' or 'x != y' is not read as syntax.
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
#: ``order_by`` keys run search cannot sort by on Azure ML: metrics, parameters and tags.
_RUN_ORDER_KEY = re.compile(r"^\s*[`\"]?(?:metrics?|params?|parameters?|tags?)\.", re.IGNORECASE)
#: A tag compared with ``!=`` (the key plain, in backticks or in double quotes, blanked or not).
_TAG_NOT_EQUAL = re.compile(r"""\btags?\.(?:`[^`]*`|"[^"]*"|[\w.-]+)\s*!=""", re.IGNORECASE)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer"}
#: Faults :meth:`AzureRulesProxy.inject` can make a request meet.
THROTTLE = "429 with Retry-After"
TIMED_OUT_AFTER_COMMIT = "timed out after commit"


@dataclass
class _Fault:
    path: re.Pattern
    kind: str
    times: int
    retry_after: int


@dataclass(frozen=True)
class Rule:
    """One behaviour Azure ML refuses, and how the stand-in answers it.

    Attributes:
        name: Short name, also recorded in :attr:`AzureRulesProxy.refused`.
        source: Where the refusal is documented or reported.
        status: HTTP status of the answer.
        error_code: MLflow error code of the answer.
    """

    name: str
    source: str
    status: int = 400
    error_code: str = "INVALID_PARAMETER_VALUE"


ALIASES = Rule(
    "aliases",
    f"{_MANAGE} (support matrix: no model aliases; MLflow added them in 2.3, Azure ML lists none)",
    404,
    "ENDPOINT_NOT_FOUND",
)
RENAME = Rule("rename registered model", f"{_MANAGE} (registered models are immutable; no renaming)")
DELETE_MODEL = Rule(
    "delete registered model", f"{_MANAGE} (deleting the model container is not supported, only versions)"
)
VERSION_ORDER = Rule(
    "order versions", f"{_MANAGE} (version queries are shown by name only; no order_by on model versions)"
)
VERSION_FILTER = Rule(
    "version filter other than name", f"{_MANAGE} (model versions are searched by name only)"
)
MODEL_LIKE = Rule("LIKE in registered-model search", f"{_MANAGE} (support matrix: no LIKE/ILIKE)")
MODEL_TAG_FILTER = Rule(
    "tag filter in registered-model search",
    f"{_MANAGE} (support matrix: search by tag only in Studio); a != tag filter was rejected "
    "(Azure/azure-sdk-for-python#42155)",
)
RUN_ORDER = Rule(
    "order runs by metrics, parameters or tags",
    f"{_RUNS} (support matrix: ordering runs by metrics, parameters or tags is not supported)",
)
RUN_TAG_NOT_EQUAL = Rule(
    "!= on a tag in run search", f"{_RUNS} (support matrix, note 2: != for tags is not supported)"
)
RUN_OR = Rule("OR in run search", f"{_RUNS} (support matrix: filtering runs with OR is not supported)")
LOGGED_MODELS = Rule(
    "MLflow 3 logged-models endpoints",
    "Azure/azure-sdk-for-python#44896 (log_model with MLflow 3: 404 on /api/2.0/mlflow/logged-models)",
    404,
    "ENDPOINT_NOT_FOUND",
)
#: Every refusal the stand-in makes, in the order it checks them.
RULES = (
    ALIASES,
    RENAME,
    DELETE_MODEL,
    VERSION_ORDER,
    VERSION_FILTER,
    MODEL_LIKE,
    MODEL_TAG_FILTER,
    RUN_ORDER,
    RUN_TAG_NOT_EQUAL,
    RUN_OR,
    LOGGED_MODELS,
)


def _filter_text(query: dict, body: dict) -> str:
    return str((query.get("filter") or [body.get("filter", "")])[0] or "")


def _order_by(query: dict, body: dict) -> list[str]:
    found = query.get("order_by") or body.get("order_by") or []
    return [str(key) for key in ([found] if isinstance(found, str) else found)]


def _run_search_refusal(query: dict, body: dict) -> Rule | None:
    if any(_RUN_ORDER_KEY.match(key) for key in _order_by(query, body)):
        return RUN_ORDER
    text = _LITERAL.sub(lambda m: m.group()[0] * 2, _filter_text(query, body))
    if re.search(r"\bOR\b", text, re.IGNORECASE):
        return RUN_OR
    return RUN_TAG_NOT_EQUAL if _TAG_NOT_EQUAL.search(text) else None


def refusal(method: str, target: str, body: bytes = b"") -> Rule | None:
    """The rule that refuses this request, or None when it is forwarded.

    Args:
        method: The HTTP method.
        target: The request target (path and query string).
        body: The request body (JSON for MLflow's POST and PATCH calls).
    """
    url = urlparse(target)
    path, query = url.path.rstrip("/"), parse_qs(url.query)
    try:
        payload = json.loads(body) if body else {}
    except ValueError:  # an artifact upload, not an API call
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    if re.match(_API + r"/logged-models", path):
        return LOGGED_MODELS
    if re.match(_API + r"/registered-models/alias$", path):
        return ALIASES
    if re.match(_API + r"/registered-models/rename$", path):
        return RENAME
    if method == "DELETE" and re.match(_API + r"/registered-models/delete$", path):
        return DELETE_MODEL
    if re.match(_API + r"/model-versions/search$", path):
        if query.get("order_by") or payload.get("order_by"):
            return VERSION_ORDER
        text = _filter_text(query, payload)
        return VERSION_FILTER if text.strip() and not _NAME_ONLY.match(text) else None
    if re.match(_API + r"/registered-models/search$", path):
        text = _filter_text(query, payload)
        if re.search(r"\bI?LIKE\b", text, re.IGNORECASE):
            return MODEL_LIKE
        return MODEL_TAG_FILTER if re.search(r"\btags?\.", text, re.IGNORECASE) else None
    if re.match(_API + r"/runs/search$", path):
        return _run_search_refusal(query, payload)
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer

    # the test output stays readable; refusals are recorded instead
    def log_message(self, *args: object) -> None:
        return

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        body = self._body()
        rule = refusal(self.command, self.path, body)
        if rule is not None:
            self.server.record(rule, self.command, self.path)
            message = f"Not supported by Azure ML ({rule.name}); source: {rule.source}"
            data = json.dumps({"error_code": rule.error_code, "message": message}).encode()
            self._answer(rule.status, [("Content-Type", "application/json")], data)
            return
        fault = self.server.fault_for(self.command, self.path)
        if fault is not None and fault.kind == THROTTLE:
            slow_down = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests"}
            data = json.dumps(slow_down).encode()
            self._answer(
                429, [("Content-Type", "application/json"), ("Retry-After", str(fault.retry_after))], data
            )
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=300)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            answer = response.status, response.getheaders(), response.read()
        except OSError as error:
            answer = 502, [("Content-Type", "text/plain")], f"upstream failed: {error}".encode()
        finally:
            upstream.close()
        if fault is not None:  # TIMED_OUT_AFTER_COMMIT: the server did it; the client never learns
            answer = 504, [("Content-Type", "text/plain")], b"upstream request timed out after commit"
        self._answer(*answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.upstream = upstream
        self.refused: list[tuple[str, str, str]] = []
        self.faults: list[_Fault] = []
        self.injected: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()  # guards faults and the request log; public: the proxy adds faults

    def record(self, rule: Rule, method: str, target: str) -> None:
        with self.lock:
            self.refused.append((rule.name, method, target))

    def fault_for(self, method: str, target: str) -> _Fault | None:
        """The first fault still due for this request (counted down), else None."""
        path = urlparse(target).path
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path.search(path):
                    fault.times -= 1
                    self.injected.append((fault.kind, method, target))
                    return fault
        return None


class AzureRulesProxy:
    """The stand-in, serving on 127.0.0.1 in a background thread of this process.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        upstream: The real MLflow server's URI, e.g. ``http://127.0.0.1:5000``.
        port: Port to listen on (default: a free one).
    """

    def __init__(self, upstream: str, port: int = 0):
        parsed = urlparse(upstream)
        self._server = _ProxyServer((config.HOST, port), (parsed.hostname or config.HOST, parsed.port or 80))
        self._thread = threading.Thread(target=self._server.serve_forever, name="azure-rules", daemon=True)

    @property
    def uri(self) -> str:
        """The stand-in's tracking URI."""
        return f"http://{config.HOST}:{self._server.server_address[1]}"

    @property
    def refused(self) -> list[tuple[str, str, str]]:
        """Every refusal so far: (rule name, method, request target)."""
        return list(self._server.refused)

    @property
    def injected(self) -> list[tuple[str, str, str]]:
        """Every fault met so far: (kind, method, request target)."""
        return list(self._server.injected)

    def inject(self, path: str, kind: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` requests whose path matches ``path`` (a regex) with a fault.

        ``kind``: :data:`THROTTLE` (429 with ``Retry-After: <retry_after>``, not forwarded) or
        :data:`TIMED_OUT_AFTER_COMMIT` (forwarded, then answered 504); any other raises ``ValueError``.
        """
        if kind not in (THROTTLE, TIMED_OUT_AFTER_COMMIT):
            raise ValueError(f"unknown fault {kind!r}; use {THROTTLE!r} or {TIMED_OUT_AFTER_COMMIT!r}")
        with self._server.lock:
            self._server.faults.append(_Fault(re.compile(path), kind, times, retry_after))

    def clear_faults(self) -> None:
        """Forget the faults not yet met."""
        with self._server.lock:
            self._server.faults.clear()

    def start(self) -> AzureRulesProxy:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C (or :meth:`stop` from another thread); then close."""
        try:
            with contextlib.suppress(KeyboardInterrupt):
                self._server.serve_forever()
        finally:
            self._server.server_close()

    def __enter__(self) -> AzureRulesProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe_rules() -> str:
    """One line per rule: what the stand-in refuses and the source that says Azure ML does."""
    return "\n".join(f"  - {rule.name}: {rule.source}" for rule in RULES)
