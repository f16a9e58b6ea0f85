"""Settings, read once at start-up: defaults < TOML file < ``VIGIL_*`` environment < command line.

Nothing here is read at import time (``load_settings`` is called by the CLI or a test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from drivers.errors import DriverUsageError
from drivers.registry import DeviceSpec, parse_device_spec
from service.alarms.limits import Limits


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
            unique.append(DeviceSpec(spec.driver, spec.url, source))
        return unique

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'vigil.db'}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment, then explicit ``overrides``."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file {config_file} does not exist")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(
            env_prefix="VIGIL_", extra="forbid", toml_file=config_file
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
    return Settings.model_validate(_FromFile(**clean).model_dump())
