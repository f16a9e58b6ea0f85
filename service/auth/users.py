"""The user store (SQLite table ``users``).

Wrong PINs are not counted here: ``service.auth.throttle`` slows the client that guesses, in
memory (a lock-out stored per account let a stranger lock a nurse out). Checking a PIN writes
nothing, so a full disk cannot stop a sign-in either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.auth.passwords import hash_secret, verify_secret
from service.persistence.models import SignInRow, UserRow


class Role(StrEnum):
    SITTER = "sitter"
    NURSE = "nurse"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"sitter": 1, "nurse": 2, "admin": 3}[self.value]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role
    active: bool
    #: Signed in with a PIN shorter than the role now needs: only a PIN change is allowed.
    pin_change_required: bool = False


class AuthError(Exception):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
#: A PIN is 4–12 digits (nurses and admins: at least ``staff_pin_digits``); a password is
#: 8–128 characters of anything.
PIN = re.compile(r"^\d{4,12}$")
#: Default shortest PIN for nurses and admins (docs/security.md: the guessing arithmetic).
STAFF_PIN_DIGITS = 6


def check_secret(
    secret: str, role: Role = Role.SITTER, staff_digits: int = STAFF_PIN_DIGITS
) -> None:
    """Raise ``ValueError`` saying what a PIN or password for ``role`` must be."""
    if PIN.match(secret):
        if role.at_least(Role.NURSE) and len(secret) < staff_digits:
            raise ValueError(
                f"a {role.value}'s PIN is at least {staff_digits} digits "
                "(or a password of 8–128 characters)"
            )
        return
    if not 8 <= len(secret) <= 128:
        raise ValueError("a PIN is 4–12 digits; a password is 8–128 characters")


def too_short(secret: str, role: Role, staff_digits: int) -> bool:
    """A PIN set before the staff minimum was raised: it must be changed at sign-in."""
    try:
        check_secret(secret, role, staff_digits)
    except ValueError:
        return True
    return False


def _user(row: UserRow) -> User:
    return User(row.username, row.display_name, Role(row.role), row.active)


class UserStore:
    def __init__(self, engine: Engine, *, staff_pin_digits: int = STAFF_PIN_DIGITS) -> None:
        self.engine = engine
        self.staff_pin_digits = staff_pin_digits

    def add(self, username: str, display_name: str, role: Role, secret: str, now: datetime) -> User:
        if not USERNAME.match(username):
            raise ValueError("user names are 2–32 characters: a-z, 0-9, '.', '_', '-'")
        check_secret(secret, role, self.staff_pin_digits)
        with Session(self.engine) as session, session.begin():
            if session.scalar(select(UserRow).where(UserRow.username == username)):
                raise ValueError(f"user {username!r} exists already")
            row = UserRow(
                username=username,
                display_name=display_name or username,
                role=role.value,
                secret_hash=hash_secret(secret),
                active=True,
                failures=0,
                locked_until=None,
                created_at=now,
            )
            session.add(row)
        return User(username, display_name or username, role, True)

    def all(self) -> list[User]:
        with Session(self.engine) as session:
            return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.username))]

    def set_active(self, username: str, active: bool) -> User:
        with Session(self.engine) as session, session.begin():
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise ValueError(f"no user {username!r}")
            row.active = active
            if active:
                row.failures = 0
                row.locked_until = None
            return _user(row)

    def count(self) -> int:
        return len(self.all())

    def set_secret(self, username: str, secret: str) -> User:
        """A new PIN or password (checked against the user's role)."""
        with Session(self.engine) as session, session.begin():
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise ValueError(f"no user {username!r}")
            check_secret(secret, Role(row.role), self.staff_pin_digits)
            row.secret_hash = hash_secret(secret)
            return _user(row)

    def active_names(self) -> set[str]:
        """User names that may be signed in now (for ending sign-ins of disabled users)."""
        with Session(self.engine) as session:
            return set(session.scalars(select(UserRow.username).where(UserRow.active)).all())

    def verify(self, username: str, secret: str, now: datetime) -> User:
        """The user if ``secret`` is right; ``AuthError`` otherwise. The same work and the same
        answer for an unknown name, a disabled user and a wrong PIN. Writes nothing."""
        with Session(self.engine) as session:
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None or not row.active:
                verify_secret(secret, _DUMMY)  # same work either way: no user enumeration
                raise AuthError("wrong user name or PIN")
            if not verify_secret(secret, row.secret_hash):
                raise AuthError("wrong user name or PIN")
            user = _user(row)
        if too_short(secret, user.role, self.staff_pin_digits):
            user = replace(user, pin_change_required=True)
        return user

    # -- persisted sign-ins (called off the event loop) -------------------------------------

    def save_sign_in(self, digest: str, username: str, expires: datetime) -> None:
        """Insert or extend. Two writes of a new sign-in may race from worker threads (its
        creation and its first extension): the loser of the insert updates instead."""
        for attempt in range(2):
            try:
                with Session(self.engine) as session, session.begin():
                    row = SignInRow(token_hash=digest, username=username, expires=expires)
                    session.merge(row)
                return
            except IntegrityError:
                if attempt:
                    raise

    def delete_sign_in(self, digest: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(SignInRow, digest)
            if row is not None:
                session.delete(row)

    def sign_ins(self, now: datetime) -> list[tuple[str, User, datetime]]:
        """Unexpired sign-ins of active users; expired rows are deleted."""
        out = []
        with Session(self.engine) as session, session.begin():
            for row in session.scalars(select(SignInRow)).all():
                user = session.scalar(select(UserRow).where(UserRow.username == row.username))
                if row.expires <= now or user is None or not user.active:
                    session.delete(row)
                    continue
                out.append((row.token_hash, _user(user), row.expires))
        return out


_DUMMY = hash_secret("000000")  # the same parameters as every stored hash
