"""Fixtures of the clinic central station tests: a real Mosquitto broker and PostgreSQL server.

Without the Debian packages the fixtures fail (they do not skip) with the command to run.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.central.infra import (
    DEFAULT_USERS,
    MissingTool,
    Mosquitto,
    Postgres,
    Tls,
    make_temp_dir,
    make_tls,
)

T = TypeVar("T")


def _or_fail(make: Callable[[], T]) -> T:
    """``make()``; a missing Debian package fails the test with the one-line instruction."""
    try:
        return make()
    except MissingTool as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def mosquitto_tls() -> Iterator[Tls]:
    """One throwaway CA and server certificate (localhost, 127.0.0.1) for the test run."""
    directory = make_temp_dir("vigil-tls-")
    try:
        yield _or_fail(lambda: make_tls(directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def mosquitto(mosquitto_tls: Tls) -> Iterator[Mosquitto]:
    """A running broker with the shipped configuration and ACL, TLS on a free port, and the
    users ``DEFAULT_USERS`` (central, bed-1 ... bed-8; passwords in ``mosquitto.users``)."""
    with _or_fail(lambda: Mosquitto(DEFAULT_USERS, tls=mosquitto_tls)) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One PostgreSQL server for the whole test run (a database per test: ``postgres``)."""
    with _or_fail(Postgres) as server:
        yield server


@pytest.fixture
def postgres(postgres_server: Postgres) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database on ``postgres_server``, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
