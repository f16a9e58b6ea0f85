"""Sign-in, sign-out, who am I; user management (admin).

Served by the bed and by the clinic central station alike: the routes use an ``AuthHost``
(service/api/deps.py), never the bed's runtime."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from service.api.deps import AuthHost, AuthHostDep
from service.api.security import Admin, MaybeUser
from service.auth.signins import COOKIE
from service.auth.throttle import Throttle
from service.auth.users import AuthError, Role, User

router = APIRouter(tags=["auth"])
log = logging.getLogger(__name__)


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=1, max_length=128, description="PIN or password")


class NewUser(Credentials):
    display_name: str = Field("", max_length=64)
    role: Role


def user_json(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "active": user.active,
        "must_change_pin": user.pin_change_required,
    }


async def verify(host: AuthHost, username: str, pin: str, client: str) -> User:
    """Check credentials off the event loop (scrypt takes tens of ms), throttled per (client,
    user name): docs/security.md. The answer is the same for an unknown name, a disabled user
    and a wrong PIN; a throttled key is answered 429 before any PIN is checked."""
    throttle: Throttle = host.throttle
    wait = throttle.wait(client, username, host.clock.monotonic())
    if wait > 0 or not throttle.begin(client, username):
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            f"too many wrong PINs from this tablet: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    try:
        user: User = await asyncio.to_thread(host.users.verify, username, pin, host.clock.utcnow())
    except AuthError as exc:
        burst = throttle.failed(client, username, host.clock.monotonic())
        log.info("wrong PIN for %r from %s", username[:32], client)
        if burst is not None:
            host.wrong_pins(burst)
        raise HTTPException(401, str(exc)) from None
    finally:
        throttle.end(client, username)
    throttle.succeeded(client, username)
    return user


def client_of(request: Request) -> str:
    """The throttle's client: the address a sign-in comes from."""
    return f"address {request.client.host if request.client else 'unknown'}"


@router.post("/auth/login", summary="Sign in with user name and PIN (sets an HttpOnly cookie)")
async def login(
    body: Credentials, request: Request, response: Response, host: AuthHostDep
) -> dict[str, Any]:
    user = await verify(host, body.username, body.pin, client_of(request))
    sign_in = host.sign_ins.create(user, host.clock.utcnow())
    response.set_cookie(
        COOKIE,
        sign_in.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    host.audit("signed_in", user.username, f"role {user.role.value}")
    return user_json(user)


class PinChange(BaseModel):
    pin: str = Field(min_length=1, max_length=128, description="The current PIN or password")
    new_pin: str = Field(min_length=1, max_length=128, description="The new PIN or password")


@router.post("/auth/pin", summary="Change your own PIN (required after sign-in when too short)")
async def change_pin(
    body: PinChange, user: MaybeUser, request: Request, host: AuthHostDep
) -> dict[str, Any]:
    await verify(host, user.username, body.pin, f"sign-in of {user.username}")
    if body.new_pin == body.pin:
        raise HTTPException(422, "the new PIN must differ from the old one")
    try:
        changed = await asyncio.to_thread(host.users.set_secret, user.username, body.new_pin)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    host.sign_ins.replace_user(request.cookies.get(COOKIE), changed)
    host.audit("pin_changed", user.username, "by the user")
    return user_json(changed)


@router.post("/auth/logout", summary="Sign out")
async def logout(request: Request, response: Response, host: AuthHostDep) -> dict[str, str]:
    ended = host.sign_ins.end(request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    if ended is not None:
        host.audit("signed_out", ended.user.username, "")
    return {"status": "signed out"}


@router.get("/auth/me", summary="The signed-in user")
async def me(user: MaybeUser) -> dict[str, Any]:
    return user_json(user)


@router.get("/users", summary="All users (admin)")
async def users(admin: Admin, host: AuthHostDep) -> list[dict[str, Any]]:
    return [user_json(u) for u in await asyncio.to_thread(host.users.all)]


@router.post("/users", summary="Add a user (admin)")
async def add_user(body: NewUser, admin: Admin, host: AuthHostDep) -> dict[str, Any]:
    try:
        user = await asyncio.to_thread(
            host.users.add,
            body.username,
            body.display_name,
            body.role,
            body.pin,
            host.clock.utcnow(),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    host.audit("user_added", admin.username, f"{user.username} as {user.role.value}")
    return user_json(user)


@router.post("/users/{username}/disable", summary="Disable a user (admin)")
async def disable_user(username: str, admin: Admin, host: AuthHostDep) -> dict[str, Any]:
    try:
        user = await asyncio.to_thread(host.users.set_active, username, False)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    host.sign_ins.end_user(username)
    host.audit("user_disabled", admin.username, username)
    return user_json(user)
