"""The user store (SQLite table ``users``) with lock-out after repeated wrong PINs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select
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


class AuthError(Exception):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
#: A PIN is 4–12 digits; a password is 8–128 characters of anything.
PIN = re.compile(r"^\d{4,12}$")


def check_secret(secret: str) -> None:
    if not (PIN.match(secret) or 8 <= len(secret) <= 128):
        raise ValueError("a PIN is 4–12 digits; a password is 8–128 characters")


def _user(row: UserRow) -> User:
    return User(row.username, row.display_name, Role(row.role), row.active)


class UserStore:
    def __init__(
        self, engine: Engine, *, max_failures: int = 5, lockout: timedelta = timedelta(minutes=5)
    ) -> None:
        self.engine = engine
        self.max_failures = max_failures
        self.lockout = lockout

    def add(self, username: str, display_name: str, role: Role, secret: str, now: datetime) -> User:
        if not USERNAME.match(username):
            raise ValueError("user names are 2–32 characters: a-z, 0-9, '.', '_', '-'")
        check_secret(secret)
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

    def verify(self, username: str, secret: str, now: datetime) -> User:
        """The user if ``secret`` is right; ``AuthError`` otherwise (and counts the failure)."""
        error: str | None = None
        with Session(self.engine) as session, session.begin():
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None or not row.active:
                verify_secret(secret, _DUMMY)  # same work either way: no user enumeration
                error = "wrong user name or PIN"
            elif row.locked_until is not None and now < row.locked_until:
                wait = int((row.locked_until - now).total_seconds()) + 1
                error = (
                    f"locked after {self.max_failures} wrong PINs: try again in {wait} s "
                    "or ask an administrator"
                )
            elif not verify_secret(secret, row.secret_hash):
                row.failures += 1  # committed with the transaction, before the error is raised
                error = "wrong user name or PIN"
                if row.failures >= self.max_failures:
                    row.locked_until = now + self.lockout
                    row.failures = 0
                    error = f"locked after {self.max_failures} wrong PINs"
            else:
                row.failures = 0
                row.locked_until = None
                user = _user(row)
        if error is not None:
            raise AuthError(error)
        return user

    # -- persisted sign-ins (called off the event loop) -------------------------------------

    def save_sign_in(self, digest: str, username: str, expires: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            session.merge(SignInRow(token_hash=digest, username=username, expires=expires))

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


_DUMMY = hash_secret("0000", n=2**14)
