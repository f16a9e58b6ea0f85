"""Settings, read once at start-up: defaults < TOML file < ``VIGIL_*`` environment < command line.

Nothing here is read at import time (``load_settings`` is called by the CLI or a test).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from drivers.errors import DriverUsageError
from drivers.registry import DeviceSpec, parse_device_spec
from service.alarms.limits import Limits
from service.infusions.logic import Rules


class SessionRules(BaseModel):
    """Infusion-session rules (docs/infusions.md), TOML table ``[session]``; the clinic's medical
    director sets them. Defaults: reference alarms.md §5."""

    model_config = ConfigDict(extra="forbid")

    #: Pre-start BP gate: a baseline above either needs a nurse's override with a reason.
    gate_sys: float = Field(140.0, ge=90, le=220)
    gate_dia: float = Field(90.0, ge=50, le=140)
    #: Cuff readings needed for a baseline.
    baseline_readings: int = Field(2, ge=1, le=10)
    #: Discharge: minutes since the infusion ended ...
    min_recovery_min: float = Field(30.0, ge=0, le=600)
    #: ... with the last cuff reading at most this far above the baseline.
    discharge_sys_margin: float = Field(20.0, ge=0, le=80)
    discharge_dia_margin: float = Field(10.0, ge=0, le=50)

    def rules(self) -> Rules:
        return Rules(
            gate_sys=self.gate_sys,
            gate_dia=self.gate_dia,
            baseline_readings=self.baseline_readings,
            min_recovery=timedelta(minutes=self.min_recovery_min),
            discharge_sys_margin=self.discharge_sys_margin,
            discharge_dia_margin=self.discharge_dia_margin,
        )


class CentralLink(BaseModel):
    """The bed's link to the clinic central station (docs/central.md, docs/mqtt.md), TOML
    table ``[central]``. The MQTT user name is the bed's name unless ``username`` is set."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(8883, ge=1, le=65535)
    clinic: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tls: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = Field(None, description="Prefer password_file.")
    password_file: Path | None = None
    keepalive_s: float = Field(5.0, ge=1, le=60)
    heartbeat_s: float = Field(5.0, gt=0, le=60)
    state_interval_s: float = Field(1.0, gt=0, le=60)
    vitals_interval_s: float = Field(2.0, gt=0, le=60)
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    reconnect_max_s: float = Field(10.0, ge=1, le=300)
    outbox_limit: int = Field(100_000, ge=100)

    @model_validator(mode="after")
    def _check(self) -> CentralLink:
        if self.password is None and self.password_file is None:
            raise ValueError("[central] needs password_file (or password)")
        if self.password_file is not None and not self.password_file.is_file():
            raise ValueError(f"[central] password_file {self.password_file} does not exist")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"[central] ca_file {self.ca_file} does not exist")
        return self

    def secret(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password or ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="forbid")

    bed: str = Field("bed-1", description="Name of the chair this unit watches.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    db_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    devices: list[str] = Field(default_factory=list, description="DRIVER=URL entries.")
    #: Seconds between server heartbeats on the live socket; a client silent for
    #: ``client_timeout_s`` is disconnected (and a tablet that hears nothing alarms itself).
    heartbeat_s: float = Field(1.0, gt=0)
    client_timeout_s: float = Field(5.0, gt=0)
    #: Local annunciation at the bedside unit when no tablet listens (docs/deploy.md).
    annunciator: Literal["aplay", "gpio", "none"] = "none"
    annunciator_alsa_device: str | None = None
    annunciator_gpio_pin: int | None = Field(None, ge=0)
    annunciator_gpio_on: list[str] = Field(default_factory=list)
    annunciator_gpio_off: list[str] = Field(default_factory=list)
    annunciator_grace_s: float = Field(0.0, ge=0)
    #: Check that the system clock is synchronised (alarm records need true times).
    clock_check: bool = False
    clock_check_command: list[str] = Field(default_factory=list)
    clock_check_interval_s: float = Field(60.0, gt=0)
    #: Overrides of the alarm limits (names and ranges in ``service.alarms.limits.LIMITS``).
    alarm_limits: dict[str, float] = Field(default_factory=dict)
    #: Infusion-session rules (``[session]`` in the TOML file).
    session: SessionRules = Field(default_factory=lambda: SessionRules.model_validate({}))
    #: Keep records this many days, then delete them (0: keep everything). Records of a
    #: session are deleted only once the session was discharged that long ago. At least 30:
    #: the clinic's own record-keeping rules decide; a short value is almost always a mistake.
    retention_days: int = Field(0, ge=0)
    #: Shortest PIN for nurses and admins (a password of 8+ characters is always allowed);
    #: shorter existing PINs must be changed at the next sign-in (docs/security.md).
    staff_pin_digits: int = Field(6, ge=4, le=12)
    #: The link to the clinic central station (``[central]``); none: the bed stands alone.
    central: CentralLink | None = None
    #: HTTP hardening (docs/security.md). A request body larger than this is refused with 413
    #: before it is parsed (a streamed body is cut as soon as it passes the cap).
    max_body_bytes: int = Field(65536, ge=1024)
    #: Host names (and addresses) the unit answers to; others get 421 (DNS rebinding). Empty:
    #: localhost, 127.0.0.1, ::1, ``host`` (unless 0.0.0.0), the machine's host name and
    #: ``<hostname>.local``, and the literal address a request arrived on. ``["*"]``: any.
    allowed_hosts: list[str] = Field(default_factory=list)
    #: Serve ``/docs`` (Swagger UI) and ``/redoc``; their scripts come from a CDN, so they need
    #: the internet. ``/openapi.json`` is always served.
    api_docs: bool = False

    @field_validator("devices", mode="before")
    @classmethod
    def _split_devices(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("devices")
    @classmethod
    def _check_devices(cls, value: list[str]) -> list[str]:
        for spec in value:
            try:
                parse_device_spec(spec)
            except DriverUsageError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("alarm_limits")
    @classmethod
    def _check_limits(cls, value: dict[str, float]) -> dict[str, float]:
        Limits().changed(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("retention_days")
    @classmethod
    def _check_retention(cls, value: int) -> int:
        if 0 < value < 30:
            raise ValueError("retention_days must be 0 (keep everything) or at least 30")
        return value

    @model_validator(mode="after")
    def _check_central_bed(self) -> Settings:
        if self.central is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.bed):
            raise ValueError(
                f"bed {self.bed!r} cannot name an MQTT topic: letters, digits, - and _ only"
            )
        return self

    @model_validator(mode="after")
    def _check_annunciator(self) -> Settings:
        gpio_commands = bool(self.annunciator_gpio_on and self.annunciator_gpio_off)
        if self.annunciator == "gpio" and self.annunciator_gpio_pin is None and not gpio_commands:
            raise ValueError("annunciator = 'gpio' needs annunciator_gpio_pin or both commands")
        return self

    def device_specs(self) -> list[DeviceSpec]:
        specs = [parse_device_spec(text) for text in self.devices]
        seen: dict[str, int] = {}
        unique = []
        for spec in specs:
            count = seen.get(spec.source, 0)
            seen[spec.source] = count + 1
            source = spec.source if count == 0 else f"{spec.source}-{count + 1}"
            unique.append(DeviceSpec(spec.driver, spec.url, source, spec.options))
        return unique

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'vigil.db'}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment, then explicit ``overrides``."""
    loaded = from_sources(Settings, "VIGIL_", config_file, **overrides)
    return Settings.model_validate(loaded.model_dump())


S = TypeVar("S", bound=BaseSettings)


def from_sources(cls: type[S], env_prefix: str, config_file: Path | None, **overrides: Any) -> S:
    """``cls`` from, highest first: explicit ``overrides`` (None values ignored), the environment
    (``env_prefix``), then the optional TOML file. Shared by the bed and the central station."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file {config_file} does not exist")

    class _FromFile(cls):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(
            env_prefix=env_prefix, extra="forbid", toml_file=config_file
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if config_file is not None:
                sources += (TomlConfigSettingsSource(settings_cls),)
            return sources

    clean = {key: value for key, value in overrides.items() if value is not None}
    loaded: S = _FromFile(**clean)
    return loaded
