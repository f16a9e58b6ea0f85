"""Shared API types: bounded path parameters and the documented shape of error answers.

Every integer that reaches SQLite must fit its 64-bit integer (a larger one overflows in the
driver, which would be a 500); every free-text path segment has a length bound.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

#: The largest integer SQLite stores (a signed 64-bit integer).
SQLITE_MAX_INT = 2**63 - 1

#: A database row id in a path (``/sessions/{session_id}``): 1 … 2**63-1, else 422.
RowId = Annotated[int, Path(ge=1, le=SQLITE_MAX_INT, description="A record's id.")]

#: An alarm id in a path (``<key>@<ISO time>``).
AlarmId = Annotated[str, Path(min_length=1, max_length=256, description="An alarm's id.")]


class FieldError(BaseModel):
    """One refused field: where (``loc``), why (``msg``) and the error ``type``; never the
    submitted value."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error answer: ``detail`` is a sentence, a list of refused fields (422) or, for
    a refused session action, an object with a ``message`` and what was checked."""

    detail: str | list[FieldError] | dict[str, Any]


#: What each status the API answers with means (the OpenAPI ``responses`` of the routes).
MEANING = {
    400: "Malformed request (a bad Content-Length, a body that cannot be read).",
    401: "Not signed in, or the sign-in expired; or wrong user name or PIN.",
    403: "Signed in, but the role may not do this; or a cross-site request.",
    404: "No such record.",
    409: "The record's state does not allow this action now.",
    413: "The request body is larger than max_body_bytes.",
    421: "The Host header names a host this unit does not serve (allowed_hosts).",
    422: "A field is missing or invalid (which field and why; never the submitted value).",
    429: "Too many wrong PINs from this client: wait (Retry-After) before trying again.",
    503: "Not saved: the unit cannot write to its disk; nothing changed.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the given error statuses, all of the ``Problem`` shape."""
    return {code: {"model": Problem, "description": MEANING[code]} for code in codes}


#: Statuses any request can get, whatever the route: answered by the hardening middleware
#: (service/api/hardening.py) before the route runs, or by request validation.
ANY_REQUEST = (400, 413, 421, 422)
#: Statuses of a route that needs a signed-in user.
SIGNED_IN = (401, 403)
