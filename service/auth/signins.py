"""Sign-ins: random tokens in an HttpOnly, SameSite=Strict cookie.

Sessions are short-lived and slide with *user actions* only (a request that changes something;
``get(..., touch=True)``): the tablet's heartbeats, its live socket and its periodic reads do
not keep a sign-in alive. A sitter's tablet stays signed in through a shift (``sitter_idle``),
nurse and admin sessions end after a few idle minutes (``staff_idle``), so a nurse who walks
away from an open tablet is signed out at the limit even though the tablet keeps reading.

Lookups are served from memory (never a database read on the event loop). Each session is also
kept in the ``sign_ins`` table (a SHA-256 of the token, never the token) by the caller, through
``persist``/``forget`` callbacks run off the loop, with its expiry as last extended, so that a
restart of the service — by the watchdog, say — keeps every valid sign-in. A sign-in that must
first change its PIN is never stored: after a restart it simply signs in again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.auth.users import Role, User

COOKIE = "vigil_session"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SignIn:
    token: str
    user: User
    created: datetime
    expires: datetime


class SignInStore:
    def __init__(
        self,
        sitter_idle: timedelta = timedelta(hours=12),
        staff_idle: timedelta = timedelta(minutes=15),
        persist: Callable[[str, str, datetime], None] | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self.sitter_idle = sitter_idle
        self.staff_idle = staff_idle
        self._persist = persist
        self._forget = forget
        self._sign_ins: dict[str, SignIn] = {}  # by token hash

    def _idle(self, user: User) -> timedelta:
        return self.sitter_idle if user.role is Role.SITTER else self.staff_idle

    def create(self, user: User, now: datetime) -> SignIn:
        self._expire(now)
        token = secrets.token_urlsafe(32)
        sign_in = SignIn(token, user, now, now + self._idle(user))
        self._sign_ins[token_hash(token)] = sign_in
        self._store(token_hash(token), sign_in)
        return sign_in

    def _store(self, digest: str, sign_in: SignIn) -> None:
        if self._persist and not sign_in.user.pin_change_required:
            self._persist(digest, sign_in.user.username, sign_in.expires)

    def restore(self, digest: str, user: User, expires: datetime) -> None:
        """Re-adopt a session kept in the database (the token itself is only in the cookie)."""
        self._sign_ins[digest] = SignIn("", user, expires - self._idle(user), expires)

    def get(self, token: str | None, now: datetime, *, touch: bool = False) -> SignIn | None:
        """The sign-in of ``token`` if it has not expired; ``touch`` (a user action) extends
        it by the role's idle time and stores the new expiry."""
        if not token:
            return None
        digest = token_hash(token)
        sign_in = self._sign_ins.get(digest)
        if sign_in is None:
            return None
        if now >= sign_in.expires:
            self._drop(digest)
            return None
        if touch:
            sign_in.expires = now + self._idle(sign_in.user)
            self._store(digest, sign_in)
        return sign_in

    def replace_user(self, token: str | None, user: User) -> None:
        """The signed-in user changed (a PIN change lifts ``pin_change_required``)."""
        if not token:
            return
        digest = token_hash(token)
        sign_in = self._sign_ins.get(digest)
        if sign_in is not None:
            sign_in.user = user
            self._store(digest, sign_in)

    def keep_only(self, usernames: set[str]) -> list[str]:
        """End the sign-ins of users not in ``usernames`` (disabled or removed elsewhere, e.g.
        from the command line); the names whose sign-ins ended."""
        gone = sorted({s.user.username for s in self._sign_ins.values()} - usernames)
        for username in gone:
            self.end_user(username)
        return gone

    def end(self, token: str | None) -> SignIn | None:
        if not token:
            return None
        return self._drop(token_hash(token))

    def end_user(self, username: str) -> None:
        for digest in [d for d, s in self._sign_ins.items() if s.user.username == username]:
            self._drop(digest)

    def _drop(self, digest: str) -> SignIn | None:
        sign_in = self._sign_ins.pop(digest, None)
        if sign_in is not None and self._forget:
            self._forget(digest)
        return sign_in

    def _expire(self, now: datetime) -> None:
        for digest in [d for d, s in self._sign_ins.items() if now >= s.expires]:
            self._drop(digest)
