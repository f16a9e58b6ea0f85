"""Settings of the clinic central station (``vigil central``), read once at start-up:
defaults < TOML file < ``VIGIL_CENTRAL_*`` environment < command line.

A bad value stops the start with one line naming the setting (``service.cli``); nothing here is
read at import time. The loader is the bed's (``service.settings.from_sources``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    SettingsConfigDict,
)

from service.mqtt_schema import NAME
from service.settings import from_sources

ENV_PREFIX = "VIGIL_CENTRAL_"


class StationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    #: The clinic whose beds this station watches: the ``<clinic>`` of ``vigil/v1/<clinic>/...``.
    clinic: str = Field(description="Clinic name (letters, digits, '-', '_').")
    #: The Mosquitto broker (TLS only, docs/central.md).
    broker_host: str = "localhost"
    broker_port: int = Field(8883, ge=1, le=65535)
    #: The clinic CA that signed the broker's certificate; None: the system's CA store.
    ca_file: Path | None = None
    username: str = "central"
    password: SecretStr | None = None
    #: A file holding the broker password (first line); preferred over ``password``.
    password_file: Path | None = None
    #: MQTT client id; the broker keeps this station's session (and queues its events) under it.
    client_id: str | None = None
    keepalive_s: int = Field(10, ge=2, le=600)
    #: SQLAlchemy URL (``postgresql+psycopg://user@host/db``); default SQLite in ``data_dir``.
    db_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    data_dir: Path = Path("data")
    #: The overview's web server (behind a reverse proxy for HTTPS, as at a bed).
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    #: A bed heard from less recently than this is shown STALE.
    stale_after_s: float = Field(15.0, gt=0, le=3600)
    #: A HIGH or MEDIUM alarm not acknowledged within this is escalated.
    escalate_after_s: float = Field(60.0, gt=0, le=86400)
    #: A central acknowledgement the bed has not answered within this is shown as failed.
    command_timeout_s: float = Field(30.0, gt=0, le=3600)
    #: Escalations are POSTed here as JSON (optional).
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(5.0, gt=0, le=120)
    #: Further attempts after a failed POST (back-off 1 s, 2 s, 4 s, ...).
    webhook_retries: int = Field(3, ge=0, le=10)
    #: Live socket: server heartbeat, and how long a silent overview page is kept.
    heartbeat_s: float = Field(1.0, gt=0, le=10)
    client_timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("clinic")
    @classmethod
    def _check_clinic(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("letters, digits, '-' and '_' only (it is an MQTT topic level)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL")
        return value

    @field_validator("ca_file")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        if value is not None:
            if not value.is_file():
                raise ValueError(f"{value}: no such file")
            try:
                ssl.create_default_context(cafile=str(value))
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"{value}: not a readable PEM CA certificate ({exc})") from None
        return value

    @model_validator(mode="after")
    def _check_password(self) -> StationSettings:
        if self.password_file is not None:
            if self.password is not None:
                raise ValueError("give password or password_file, not both")
            try:
                text = self.password_file.read_text().strip()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise ValueError(f"password_file: {reason}: {self.password_file}") from None
            if not text:
                raise ValueError(f"password_file: {self.password_file} is empty")
            self.password = SecretStr(text.splitlines()[0])
        elif self.password is None:
            raise ValueError("the broker password is missing: set password_file (or password)")
        return self

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'central.db'}"

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"vigil-central-{self.clinic}"


def load_station_settings(config_file: Path | None = None, **overrides: Any) -> StationSettings:
    """Settings from an optional TOML file, the environment, then explicit ``overrides`` (None
    values are ignored). Raises FileNotFoundError, or ValueError with one line naming the bad
    settings."""
    try:
        return from_sources(StationSettings, ENV_PREFIX, config_file, **overrides)
    except ValidationError as exc:
        raise ValueError(f"bad settings: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """``clinic: Field required; broker_port: ...`` — one line, naming each setting."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
