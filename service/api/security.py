"""Who is asking: the signed-in user from the session cookie, role checks, origin checks.

Shared by the bed and the clinic central station: the sign-ins are the app's ``AuthHost``
(service/api/deps.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from starlette.responses import JSONResponse, Response

from service.api.deps import auth_host, ws_auth_host
from service.auth.signins import COOKIE
from service.auth.users import Role, User

#: Requests that are user actions: only these extend a sign-in (docs/security.md).
ACTIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def signed_in(request: Request) -> User:
    host = auth_host(request)
    sign_in = host.sign_ins.get(
        request.cookies.get(COOKIE), host.clock.utcnow(), touch=request.method in ACTIONS
    )
    if sign_in is None:
        raise HTTPException(401, "sign in first")
    return sign_in.user


def signed_in_or_none(request: Request) -> User | None:
    """The signed-in user, or None, never raising: for answers that everyone gets, with
    more for staff (``GET /health``). Only reads: it does not extend the sign-in."""
    host = auth_host(request)
    sign_in = host.sign_ins.get(request.cookies.get(COOKIE), host.clock.utcnow())
    return None if sign_in is None else sign_in.user


def websocket_user(websocket: WebSocket) -> User | None:
    host = ws_auth_host(websocket)
    sign_in = host.sign_ins.get(websocket.cookies.get(COOKIE), host.clock.utcnow())
    if sign_in is None or sign_in.user.pin_change_required:
        return None
    return sign_in.user


def require(role: Role) -> Callable[[User], User]:
    def check(user: Annotated[User, Depends(signed_in)]) -> User:
        if user.pin_change_required:
            raise HTTPException(403, "change your PIN first (POST /api/v1/auth/pin)")
        if not user.role.at_least(role):
            raise HTTPException(403, f"this needs a {role.value} (you are a {user.role.value})")
        return user

    return check


Viewer = Annotated[User, Depends(require(Role.SITTER))]
Nurse = Annotated[User, Depends(require(Role.NURSE))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
MaybeUser = Annotated[User, Depends(signed_in)]
OptionalUser = Annotated[User | None, Depends(signed_in_or_none)]


def same_origin(origin: str | None, host: str | None) -> bool:
    return origin is None or urlsplit(origin).netloc == (host or "")


async def origin_guard(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Refuse state-changing requests a browser sends from another site (CSRF)."""
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        origin = request.headers.get("origin")
        if origin is None and request.headers.get("referer"):
            referer = urlsplit(request.headers["referer"])
            origin = f"{referer.scheme}://{referer.netloc}"
        if not same_origin(origin, request.headers.get("host")):
            return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
    return await call_next(request)
