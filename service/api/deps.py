"""Shared dependencies: the running ``Runtime`` of the app, and the parts of it a route needs
(a route asks for the part, e.g. ``AlarmsDep``, not for the whole runtime)."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, FastAPI, Request, WebSocket

from drivers.clock import Clock
from service.alarm_runner import AlarmRunner
from service.auth.signins import SignInStore
from service.auth.throttle import Burst, Throttle
from service.auth.users import UserStore
from service.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def ws_runtime(websocket: WebSocket) -> Runtime:
    runtime: Runtime = websocket.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def _alarms(request: Request) -> AlarmRunner:
    """The alarm path: operator actions on alarms, audio and limits."""
    runtime: Runtime = request.app.state.runtime
    return runtime.alarms


AlarmsDep = Annotated[AlarmRunner, Depends(_alarms)]


# -- the sign-in seam ------------------------------------------------------------------------
# The sign-in routes (service/api/auth.py) and the role checks (service/api/security.py) serve
# the bed and the clinic central station (central/app.py) alike: they take an ``AuthHost``,
# never the bed's Runtime. Each app names its host with ``provide_auth_host``.


class AuthHost(Protocol):
    """What sign-in needs from the program that serves it (a bed's ``Runtime``, the central's
    ``CentralStation``): its users, sign-ins, PIN throttle and clock, and where to record."""

    @property
    def users(self) -> UserStore: ...

    @property
    def sign_ins(self) -> SignInStore: ...

    @property
    def throttle(self) -> Throttle: ...

    @property
    def clock(self) -> Clock: ...

    def audit(self, action: str, user: str, detail: str) -> None:
        """Record a human action (signed in, user added...)."""
        ...

    def wrong_pins(self, burst: Burst) -> None:
        """A burst of wrong PINs from one client (audited once)."""
        ...


def provide_auth_host(app: FastAPI, host: AuthHost) -> None:
    app.state.auth_host = host


def auth_host(request: Request) -> AuthHost:
    host: AuthHost = request.app.state.auth_host
    return host


def ws_auth_host(websocket: WebSocket) -> AuthHost:
    host: AuthHost = websocket.app.state.auth_host
    return host


AuthHostDep = Annotated[AuthHost, Depends(auth_host)]
