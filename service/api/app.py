"""``create_app(settings)``: the FastAPI application of one bedside unit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from drivers.clock import Clock
from service.api import alarms, auth, infusions, live, status
from service.api.deps import provide_auth_host
from service.api.hardening import harden, install_error_handlers
from service.api.security import origin_guard
from service.api.types import ANY_REQUEST, SIGNED_IN, responses
from service.platform import systemd
from service.runtime import Runtime
from service.settings import Settings

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


class VigilApp(FastAPI):
    """FastAPI with the hardening middleware (service/api/hardening.py) outside everything,
    Starlette's own error middleware included, so every answer gets its headers."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.hardening_settings = settings
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return harden(super().build_middleware_stack(), self.hardening_settings)


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

    app = VigilApp(
        settings,
        title="Vigil bedside unit",
        version="0.1.0",
        summary="Live vitals, pump state and alarms of one infusion chair.",
        description=(
            "Vigil is a secondary alarm system beside the monitor's own alarms; it is not a "
            "certified medical device."
        ),
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN: off unless asked for.
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    provide_auth_host(app, runtime)  # sign-in routes and role checks (service/api/deps.py)
    install_error_handlers(app)
    app.middleware("http")(origin_guard)
    # Every status a route can answer is documented (docs/api.md, tests/service/
    # test_schemathesis.py); 429 comes from the sign-in throttle wherever a PIN is checked.
    app.include_router(
        status.router, prefix="/api/v1", responses=responses(*ANY_REQUEST, *SIGNED_IN)
    )
    app.include_router(
        auth.router, prefix="/api/v1", responses=responses(*ANY_REQUEST, *SIGNED_IN, 404, 429)
    )
    app.include_router(
        alarms.router,
        prefix="/api/v1",
        responses=responses(*ANY_REQUEST, *SIGNED_IN, 404, 429, 503),
    )
    app.include_router(live.router, prefix="/api/v1")
    app.include_router(  # routers before the static mount
        infusions.router,
        prefix="/api/v1",
        responses=responses(*ANY_REQUEST, *SIGNED_IN, 404, 409, 429, 503),
    )
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
