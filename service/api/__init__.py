"""The HTTP and WebSocket API (FastAPI)."""

from service.api.app import create_app

__all__ = ["create_app"]
