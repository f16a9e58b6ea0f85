"""Sign-in, sign-out, who am I; user management (admin)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from service.api.deps import RuntimeDep
from service.api.security import Admin, MaybeUser
from service.auth.sessions import COOKIE
from service.auth.users import AuthError, Role, User

router = APIRouter(tags=["auth"])


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
    }


async def verify(runtime: Any, username: str, pin: str) -> User:
    """Check credentials off the event loop (scrypt takes tens of ms); audit failures."""
    now = runtime.clock.utcnow()
    try:
        return await asyncio.to_thread(runtime.users.verify, username, pin, now)
    except AuthError as exc:
        runtime.audit("sign_in_refused", username[:32], str(exc))
        raise HTTPException(401, str(exc)) from None


@router.post("/auth/login", summary="Sign in with user name and PIN (sets an HttpOnly cookie)")
async def login(
    body: Credentials, request: Request, response: Response, runtime: RuntimeDep
) -> dict[str, Any]:
    user = await verify(runtime, body.username, body.pin)
    sign_in = runtime.sessions.create(user, runtime.clock.utcnow())
    response.set_cookie(
        COOKIE,
        sign_in.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    runtime.audit("signed_in", user.username, f"role {user.role.value}")
    return user_json(user)


@router.post("/auth/logout", summary="Sign out")
async def logout(request: Request, response: Response, runtime: RuntimeDep) -> dict[str, str]:
    ended = runtime.sessions.end(request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    if ended is not None:
        runtime.audit("signed_out", ended.user.username, "")
    return {"status": "signed out"}


@router.get("/auth/me", summary="The signed-in user")
async def me(user: MaybeUser) -> dict[str, Any]:
    return user_json(user)


@router.get("/users", summary="All users (admin)")
async def users(admin: Admin, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [user_json(u) for u in await asyncio.to_thread(runtime.users.all)]


@router.post("/users", summary="Add a user (admin)")
async def add_user(body: NewUser, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    try:
        user = await asyncio.to_thread(
            runtime.users.add,
            body.username,
            body.display_name,
            body.role,
            body.pin,
            runtime.clock.utcnow(),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    runtime.audit("user_added", admin.username, f"{user.username} as {user.role.value}")
    return user_json(user)


@router.post("/users/{username}/disable", summary="Disable a user (admin)")
async def disable_user(username: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    try:
        user = await asyncio.to_thread(runtime.users.set_active, username, False)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    runtime.sessions.end_user(username)
    runtime.audit("user_disabled", admin.username, username)
    return user_json(user)
