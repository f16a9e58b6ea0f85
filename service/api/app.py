"""``create_app(settings)``: the FastAPI application of one bedside unit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from drivers.clock import Clock
from service.api import alarms, auth, live, sessions, status
from service.api.security import origin_guard
from service.platform import systemd
from service.runtime import Runtime
from service.settings import Settings

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        systemd.notify_ready(f"bed {settings.bed}")
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Vigil bedside unit",
        version="0.1.0",
        summary="Live vitals, pump state and alarms of one infusion chair.",
        description=(
            "Vigil is a secondary alarm system beside the monitor's own alarms; it is not a "
            "certified medical device."
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.include_router(status.router, prefix="/api/v1")
    app.middleware("http")(origin_guard)
    app.include_router(auth.router, prefix="/api/v1")
    app.include_router(alarms.router, prefix="/api/v1")
    app.include_router(live.router, prefix="/api/v1")
    app.include_router(sessions.router, prefix="/api/v1")  # routers before the static mount
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
