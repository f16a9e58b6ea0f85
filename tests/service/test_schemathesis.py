"""Property-based API testing with schemathesis over every route of the OpenAPI schema of a real
server: no answer is a 5xx and every status is one the schema documents.

Runs schemathesis's own engine (what ``schemathesis run`` does: a coverage phase of boundary and
wrong-type cases, then a fuzzing phase of positive and negative cases), once signed in as the
admin and once not signed in. Bounded so the file takes well under 90 s on two cores: a fixed
seed, deterministic generation, a few examples per operation.

A generated case may sign the admin out (``POST /auth/logout``) or disable a user (``POST
/users/{username}/disable`` with a name taken from an earlier answer); before each case the
admin's sign-in is checked and, if it ended, the test users are enabled again and the admin
gets a fresh sign-in, so later cases still run signed in.

(schemathesis's pytest plugin does not work with pytest 9.2, so the engine is run directly.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

from service.settings import Settings
from tests.support import PINS, RunningServer, start_server

pytestmark = pytest.mark.e2e

#: Examples per operation in the fuzzing phase; the coverage phase adds its own deterministic
#: boundary cases (lengths, ranges, wrong types, missing fields).
EXAMPLES = 10
SEED = 20261203


def config() -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
            "phases": {
                "examples": {"enabled": False},  # the schema has no examples
                # Boundary and wrong-type cases; methods a route does not have are Starlette's
                # 405 and not worth a tenth of the run.
                "coverage": {"enabled": True, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
            },
        }
    )


@dataclass
class Outcome:
    cases: int = 0
    operations: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0


def run(schema: Any) -> Outcome:
    """Run the engine to the end; every failure and error, described."""
    outcome = Outcome()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            outcome.operations.add(event.recorder.label)
            outcome.cases += len(event.recorder.cases)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    outcome.statuses[interaction.response.status_code] += 1
            if event.status == Status.FAILURE:
                for checks in event.recorder.checks.values():
                    for check in checks:
                        if check.failure_info is not None:
                            failure = check.failure_info.failure
                            outcome.failures.append(
                                f"{event.recorder.label}: {failure.title}: {failure.message}\n"
                                f"  {check.failure_info.code_sample}"
                            )
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
    outcome.seconds = time.monotonic() - started
    return outcome


class AdminSignIn:
    """The admin's session cookie for every case; renewed when a case ended the sign-in."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.token = server.login("admin").cookies["vigil_session"]
        self.renewed = 0

    def current(self) -> str:
        runtime = self.server.app.state.runtime

        async def check() -> str | None:
            if runtime.sign_ins.get(self.token, runtime.clock.utcnow()) is not None:
                return None
            for name in PINS:  # a case may have disabled one
                await asyncio.to_thread(runtime.users.set_active, name, True)
            users = await asyncio.to_thread(runtime.users.all)
            admin = next(u for u in users if u.username == "admin")
            return str(runtime.sign_ins.create(admin, runtime.clock.utcnow()).token)

        fresh = asyncio.run_coroutine_threadsafe(check(), runtime.loop).result(timeout=10)
        if fresh is not None:
            self.token = fresh
            self.renewed += 1
        return self.token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = Path(tmp_path_factory.mktemp("schemathesis")) / "data"
    running = start_server(Settings(data_dir=data_dir))
    yield running
    running.stop()


def load(server: RunningServer) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config())


def every_route(server: RunningServer) -> set[str]:
    paths = server.app.openapi()["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


def report(outcome: Outcome, capsys: pytest.CaptureFixture[str], title: str) -> None:
    with capsys.disabled():
        print(
            f"\nschemathesis {title}: {outcome.cases} cases over {len(outcome.operations)} "
            f"operations in {outcome.seconds:.1f} s; statuses {sorted(outcome.statuses.items())}"
        )


def test_signed_in_as_admin(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    schema = load(server)
    admin = AdminSignIn(server)

    @schema.auth(refresh_interval=None)
    class Cookie:
        def get(self, case: Any, ctx: Any) -> str:
            return admin.current()

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Cookie": f"vigil_session={data}"}

    outcome = run(schema)
    report(outcome, capsys, "signed in as admin")
    assert not outcome.errors, "\n".join(outcome.errors)
    assert not outcome.failures, "\n".join(outcome.failures)
    assert outcome.operations == every_route(server)
    assert outcome.statuses[200] > 100  # it did run signed in


def test_not_signed_in(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(load(server))
    report(outcome, capsys, "not signed in")
    assert not outcome.errors, "\n".join(outcome.errors)
    assert not outcome.failures, "\n".join(outcome.failures)
    assert outcome.operations == every_route(server)
