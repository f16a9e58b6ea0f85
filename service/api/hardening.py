"""HTTP hardening: pure ASGI middleware around the whole application, and error answers that
never echo what was sent (docs/security.md).

From the outside in (``harden``):

* ``SecurityHeaders`` adds CSP, ``nosniff``, ``X-Frame-Options``, ``Referrer-Policy`` to every
  HTTP answer (and ``Cache-Control: no-store`` to ``/api``);
* ``HostGuard`` answers 421 when the ``Host`` header names a host this unit does not serve
  (DNS rebinding), for plain requests and the live WebSocket alike;
* ``BodyLimit`` answers 413 to a ``Content-Length`` over ``max_body_bytes`` without reading the
  body, and counts a streamed body while it arrives, answering 413 as soon as it passes the cap;
* ``JsonGuard`` refuses, with a 422 naming the problem, a JSON body that is not UTF-8, not JSON,
  has NaN or Infinity, or a lone surrogate in a string, before any route parses it.

``install_error_handlers`` makes a 422 say which field and why (``loc``, ``msg``, ``type``) but
never the submitted value, and turns any unhandled exception into a plain 500 "internal error"
(logged: a line naming the request here, the traceback by the server).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import math
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.infusions.exports import STYLE as REPORT_STYLE
from service.settings import Settings

log = logging.getLogger(__name__)


def _sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


#: The Content-Security-Policy of every answer. Besides ``default-src 'self'``: images may be
#: ``data:`` URLs (the pages' empty ``<link rel="icon" href="data:,">``), and the one inline
#: ``<style>`` of the printable session report is allowed by its hash. No inline script.
CSP = "; ".join(
    [
        "default-src 'self'",
        f"style-src 'self' {_sha256_source(REPORT_STYLE)}",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)
#: ``/docs`` and ``/redoc`` (only with ``api_docs = true``) load Swagger UI and ReDoc from a CDN
#: and start them with an inline script.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")

#: A JSON body's ``Content-Type``: ``application/json`` or ``application/<anything>+json``.
_JSON_TYPES = ("application/json",)


def harden(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` inside the hardening middleware, outermost first."""
    app = JsonGuard(app)
    app = BodyLimit(app, settings.max_body_bytes)
    app = HostGuard(app, AllowedHosts.from_settings(settings))
    return SecurityHeaders(app, docs=settings.api_docs)


# -- answers sent by the middleware ---------------------------------------------------------


async def _answer(
    send: Send, status: int, detail: Any, *, close: bool = False, scope_type: str = "http"
) -> None:
    """A JSON ``{"detail": ...}`` answer; ``close`` asks the server to drop the connection
    (used when a body is left unread: the rest of it is never received)."""
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    prefix = "websocket.http.response" if scope_type == "websocket" else "http.response"
    await send({"type": f"{prefix}.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": body, "more_body": False})


def _field_problem(
    msg: str, kind: str = "json_invalid", where: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    return [{"loc": ["body", *where], "msg": msg, "type": kind}]


# -- security headers -----------------------------------------------------------------------


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, docs: bool = False) -> None:
        self.app = app
        self.docs = docs

    def headers_for(self, path: str) -> dict[str, str]:
        docs_page = self.docs and path in DOCS_PATHS
        headers = {
            "Content-Security-Policy": DOCS_CSP if docs_page else CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        }
        if path == "/api" or path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- Host allow-list ------------------------------------------------------------------------


def host_name(header: str) -> str | None:
    """The host of a ``Host`` header, lower case, without port, brackets or a final dot;
    None if it is not a plausible host."""
    value = header.strip().lower()
    if value.startswith("["):  # [IPv6]:port
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not _is_port(value[end + 1 :])):
            return None
        value = value[1:end]
    elif value.count(":") == 1:
        value, _, port = value.partition(":")
        if not port.isdigit():
            return None
    value = value.rstrip(".")
    if not value or any(c.isspace() or c in "/\\@?#" for c in value):
        return None
    return value


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit()


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` names (an IPv4-mapped IPv6 address as its IPv4), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers this way
    return address


class AllowedHosts:
    """Which ``Host`` names this unit answers to (DNS rebinding: a page on another site that
    resolves its own name to this unit's address sends that name as its Host).

    ``allowed_hosts = []`` (the default): ``localhost``, ``127.0.0.1``, ``::1``, the
    configured ``host`` unless it is a wildcard address, the machine's host name and
    ``<hostname>.local`` (mDNS), and any literal IP address the request arrived on (an address
    of this machine). ``["*"]``: any host. Otherwise: exactly the names listed (a port in an
    entry is ignored).
    """

    def __init__(self, names: Iterable[str] | None) -> None:
        self.any = names is None
        self.names = frozenset() if names is None else frozenset(names)

    @classmethod
    def from_settings(cls, settings: Settings) -> AllowedHosts:
        listed = settings.allowed_hosts
        if "*" in listed:
            return cls(None)
        if listed:
            return cls(name for entry in listed if (name := host_name(entry)))
        names = {"localhost", "127.0.0.1", "::1"}
        configured = host_name(settings.host)
        if configured and configured not in ("0.0.0.0", "::"):
            names.add(configured)
        hostname = socket.gethostname().lower().rstrip(".")
        if hostname:
            short = hostname.split(".")[0]
            names |= {hostname, short, f"{short}.local"}
        return cls(names)

    def permits(self, header: str | None, server: Any = None) -> bool:
        """Whether a request with this ``Host`` header, received on ``server`` (the ASGI
        scope's ``(address, port)``), is for this unit. A request without ``Host`` (HTTP/1.0,
        scripts) cannot come from a browser and passes."""
        if self.any or header is None:
            return True
        name = host_name(header)
        if name is None:
            return False
        if name in self.names:
            return True
        address = _ip(name)
        if address is None:
            return False
        if any(_ip(n) == address for n in self.names):
            return True
        if isinstance(server, (tuple, list)) and server and isinstance(server[0], str):
            return _ip(server[0]) == address  # the address the request came in on
        return False


class HostGuard:
    REASON = "this host name is not served here (see allowed_hosts)"

    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            host = Headers(scope=scope).get("host")
            if not self.allowed.permits(host, scope.get("server")):
                log.warning("refused a request for another host (%s %s)", kind, scope["path"])
                if kind == "http":
                    await _answer(send, 421, self.REASON, close=True)
                elif "websocket.http.response" in scope.get("extensions", {}):
                    await _answer(send, 421, self.REASON, scope_type="websocket")
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": self.REASON})
                return
        await self.app(scope, receive, send)


# -- body size ------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passed the cap (the 413 is already sent)."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    @property
    def reason(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):
                await _answer(send, 400, "bad Content-Length", close=True)
                return
            if int(declared) > self.max_bytes:
                await _answer(send, 413, self.reason, close=True)  # the body is never read
                return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        complete = not chunked and int(declared or 0) == 0  # the whole body was received

        received = 0
        started = False
        answered = False

        async def counted_receive() -> Message:
            nonlocal received, answered, complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started and not answered:
                        answered = True
                        await _answer(send, 413, self.reason, close=True)
                    raise BodyTooLarge
                complete = complete or not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 went out: whatever the app answers to the cut body is dropped
            if message["type"] == "http.response.start":
                started = True
                if not complete:
                    # The route answered without reading the body: close the connection rather
                    # than let the server read (and throw away) a body of any length.
                    MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception:
            if not answered:
                raise
            # The app failed on the cut body; the client has its 413 already.


# -- JSON bodies ----------------------------------------------------------------------------


#: Stands for a number Vigil cannot store or show (NaN, Infinity, 1e999) while the body is
#: parsed, so that the answer can name the field it was in.
_NOT_FINITE = object()


def _finite(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NOT_FINITE


def _refuse_constant(name: str) -> Any:
    return _NOT_FINITE


def _path_of_not_finite(value: Any) -> list[str | int] | None:
    """Where the first non-finite number is (``["weight_kg"]``), or None."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if item is _NOT_FINITE:
            return path
        if isinstance(item, dict):
            stack.extend((v, [*path, str(k)[:64]]) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(item))))
    return None


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not acceptable JSON, or None (``json_problem_at`` also says where)."""
    found = json_problem_at(body)
    return None if found is None else found[0]


def json_problem_at(body: bytes) -> tuple[str, list[str | int]] | None:
    """Why ``body`` is not acceptable JSON and in which field (``loc`` after ``body``), or None.
    Python's ``json`` accepts NaN, Infinity, 1e999 and ``"\\ud800"``; none of them can be
    stored or answered back, so they are refused here, before a route sees them."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8", []
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        return "the body is not valid JSON", []
    where = _path_of_not_finite(value)
    if where is not None:
        return "NaN, Infinity and numbers too large for a float are not accepted", where
    if _has_lone_surrogate(value):
        return "a string has a lone surrogate (not valid Unicode)", []
    return None


def _is_json(headers: Headers) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


class JsonGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:  # at most max_body_bytes: BodyLimit outside stops a longer body
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem_at(body) if body.strip() else None
        if problem is not None:
            await _answer(send, 422, _field_problem(problem[0], where=problem[1]))
            return
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], None, receive), send)


def _replay(messages: list[Message], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` (then ``last``, if any) and then the real one."""
    queue = [*messages, *([last] if last is not None else [])]

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


# -- error answers --------------------------------------------------------------------------


def _loc_part(part: Any) -> str | int:
    if isinstance(part, int):
        return part
    text = str(part)
    return text if len(text) <= 64 else text[:63] + "…"  # a dict key is the sender's text


def field_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input``, ``ctx`` or ``url``: where and why, not what."""
    out = []
    for error in errors:
        out.append(
            {
                "loc": [_loc_part(p) for p in error.get("loc", ())],
                "msg": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return out


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": field_errors(exc.errors())}, status_code=422)


async def _websocket_validation_error(websocket: WebSocket, exc: Exception) -> None:
    await websocket.close(code=1008, reason="invalid request")


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette raises the exception again after this answer, and the server logs it with
    # its traceback; this line ties it to the request.
    log.error("internal error answering %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _websocket_validation_error)
    app.add_exception_handler(Exception, _internal_error)
