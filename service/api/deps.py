"""Shared dependencies: the running ``Runtime`` of the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from service.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def ws_runtime(websocket: WebSocket) -> Runtime:
    runtime: Runtime = websocket.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
