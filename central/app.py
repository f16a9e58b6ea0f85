"""``create_central_app(settings)``: the FastAPI application of the clinic central station."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from central import api
from central.notify import Notifier
from central.settings import StationSettings
from central.station import CentralStation
from drivers.clock import Clock
from service.api import auth
from service.api.deps import provide_auth_host
from service.api.security import origin_guard
from service.platform import systemd

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_central_app(
    settings: StationSettings,
    *,
    clock: Clock | None = None,
    notifiers: list[Notifier] | None = None,
) -> FastAPI:
    station = CentralStation(settings, clock=clock, notifiers=notifiers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await station.start()
        systemd.notify_ready(f"central station of {settings.clinic}")
        try:
            yield
        finally:
            await station.stop()

    app = FastAPI(
        title="Vigil clinic central station",
        version="0.1.0",
        summary="Every bed of one clinic: state, alarms, acknowledgement, escalation.",
        description=(
            "Vigil is a secondary alarm system beside the monitors' own alarms; it is not a "
            "certified medical device. The central station is a view of the beds: each bed "
            "alarms by itself whatever happens to the network or to this station."
        ),
        lifespan=lifespan,
    )
    app.state.station = station  # central/api.py
    provide_auth_host(app, station)  # the shared sign-in routes and role checks

    @app.exception_handler(SQLAlchemyError)
    async def database_down(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("database error answering a request: %s", str(exc).splitlines()[0][:200])
        return JSONResponse({"detail": "the central database is unreachable"}, status_code=503)

    app.middleware("http")(origin_guard)
    app.include_router(auth.router, prefix="/api/v1")
    app.include_router(api.router, prefix="/api/v1")
    if (WEB_DIR / "vendor").is_dir():
        app.mount("/vendor", StaticFiles(directory=WEB_DIR / "vendor"), name="vendor")
        app.mount("/shared", StaticFiles(directory=WEB_DIR / "shared"), name="shared")
    if (WEB_DIR / "central").is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR / "central", html=True), name="central")
    return app
