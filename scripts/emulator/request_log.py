"""Record every request the emulator receives, one JSON line each (test support only).

When the environment variable ``EKSMGR_EMULATOR_REQUEST_LOG`` names a file, ``install()``
wraps moto's server application (``DomainDispatcherApplication``, the WSGI app that
``moto.server.main`` and ``ThreadedMotoServer`` serve) in ``RequestLogMiddleware``, which
appends one JSON object per request to that file before moto sees the request::

    {"time": "2025-01-01T00:00:00.000000+00:00", "method": "POST",
     "path": "/clusters/demo/access-entries",   # raw, as sent (percent-encoded)
     "query": "a=1&b=2",                         # raw query string
     "headers": {"Content-Type": "...", "User-Agent": "...", "X-Amz-Target": "...", ...},
     "credential_scope": {"date": "20250101", "region": "us-east-1", "service": "eks"},
     "body": "...", "body_encoding": "utf-8"}    # or "base64" when not UTF-8

Headers: every header the client sent, by its name as received, except the secret ones:
``Authorization`` is replaced by its SigV4 credential scope (``credential_scope`` above:
date, region and service; never the access key id nor the signature),
``X-Amz-Security-Token``, ``Cookie`` and ``Proxy-Authorization`` are dropped.  The other
headers are kept because REST APIs (S3, EKS) bind input members to them
(``If-None-Match``, ``x-amz-checksum-*``, ...) and ``scripts/check_requests.py`` rebuilds the
input from them.

Lines are appended with one ``write`` on a file opened with ``O_APPEND``, under a lock:
whole lines, also when several server threads (or several servers) share the file.
With the variable unset or empty, ``install()`` does nothing.

Used by ``scripts/emulator/eksmgr_moto.py`` (``main()``) and checked by
``scripts/check_requests.py``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

ENV_VAR = "EKSMGR_EMULATOR_REQUEST_LOG"

# Headers never written: credentials.  Authorization is reduced to its credential scope.
SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token", "cookie", "proxy-authorization"})

# AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/eks/aws4_request, SignedHeaders=..., Signature=...
_CREDENTIAL = re.compile(
    r"Credential=[^/,\s]*/(?P<date>[^/,\s]*)/(?P<region>[^/,\s]*)/(?P<service>[^/,\s]*)/aws4_request"
)
# The same scope in a presigned URL's query string (X-Amz-Credential=AKID%2F...).
_QUERY_CREDENTIAL = re.compile(
    r"(?:^|&)X-Amz-Credential=[^%&]*%2F(?P<date>[^%&]*)%2F(?P<region>[^%&]*)%2F(?P<service>[^%&]*)%2Faws4_request",
    re.IGNORECASE,
)

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


def credential_scope(authorization: str | None, query: str = "") -> dict[str, str] | None:
    """The SigV4 credential scope (date, region, service) of a request, or None."""
    match = _CREDENTIAL.search(authorization or "") or _QUERY_CREDENTIAL.search(query or "")
    if not match:
        return None
    return {key: match.group(key) for key in ("date", "region", "service")}


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if not isinstance(value, str) or (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value == ""):
            continue
        if name.lower() in SECRET_HEADERS:
            continue
        headers[name] = value
    # moto's request handler keeps the original spelling of underscored header names
    # (S3 metadata); use it where it has one.
    preserved = environ.get("moto.preserved_header_names") or {}
    if isinstance(preserved, dict):
        for environ_key, original in preserved.items():
            value = environ.get(environ_key)
            if isinstance(value, str) and original.lower() not in SECRET_HEADERS:
                headers.pop(environ_key[5:].replace("_", "-").title(), None)
                headers[original] = value
    return headers


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole body and put it back as a fresh stream for moto."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        # Chunked transfer encoding: werkzeug's DechunkedInput ends at the last chunk.
        body = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = stream.read(length) if length > 0 else b""
    body = body or b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The request target as sent: (percent-encoded path, raw query string)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if "://" in raw.split("?", 1)[0]:  # absolute-form target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        path, _, query = raw.partition("?")
        return path, query
    from urllib.parse import quote

    path_info = environ.get("PATH_INFO", "")
    if isinstance(path_info, str):
        # PEP 3333: PATH_INFO is latin-1 decoded bytes.
        path_info = path_info.encode("latin-1").decode("utf-8", "replace")
    return quote(path_info, safe="/~"), environ.get("QUERY_STRING", "")


def request_record(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The JSON-able record of one request (``environ`` is its WSGI environ)."""
    path, query = _raw_target(environ)
    record: dict[str, Any] = {
        "time": datetime.now(timezone.utc).isoformat(),
        "method": environ.get("REQUEST_METHOD", ""),
        "path": path,
        "query": query,
        "headers": _headers(environ),
        "credential_scope": credential_scope(environ.get("HTTP_AUTHORIZATION"), query),
    }
    try:
        record["body"] = body.decode("utf-8")
        record["body_encoding"] = "utf-8"
    except UnicodeDecodeError:
        record["body"] = base64.b64encode(body).decode("ascii")
        record["body_encoding"] = "base64"
    return record


class RequestLog:
    """An append-only JSON-lines file, safe to share between threads and processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]


class RequestLogMiddleware:
    """WSGI middleware: log the request, then hand it, body intact, to ``app``."""

    def __init__(self, app: WSGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            body = _read_body(environ)
            self.log.append(request_record(environ, body))
        except Exception as error:  # never break the emulator over the log
            import sys

            print(f"request_log: could not record a request: {error!r}", file=sys.stderr)
        return self.app(environ, start_response)


def install(path: str | None = None) -> bool:
    """Log every request of moto's server app to ``path`` (default: ``$EKSMGR_EMULATOR_REQUEST_LOG``).

    Does nothing (and returns False) when no path is given and the variable is unset or
    empty.  Idempotent.  Call it before the server starts serving.
    """
    path = path if path is not None else os.environ.get(ENV_VAR, "")
    if not path:
        return False
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.__call__, "__eksmgr_request_log__", False):
        return True
    log = RequestLog(path)
    dispatch = DomainDispatcherApplication.__call__

    # moto.server.main builds `DomainDispatcherApplication(create_backend_app)` and serves it
    # (ThreadedMotoServer too); every instance's WSGI entry point goes through the middleware.
    def __call__(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = RequestLogMiddleware(lambda env, respond: dispatch(self, env, respond), log)
        return app(environ, start_response)

    __call__.__eksmgr_request_log__ = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]
    return True
