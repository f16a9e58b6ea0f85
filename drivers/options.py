"""Per-device options: what a driver lets a site set, checked before anything opens.

A device is written ``DRIVER=URL;KEY=VALUE;…`` on the command line (or with an ``options``
table in the TOML file). Each driver declares its options as ``DriverOption``s on its handler
class (``OPTIONS``); ``validate_options`` turns the raw text into typed values or raises a
``DriverUsageError`` that names the option, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from drivers.errors import DriverUsageError

OptionKind = Literal["bool", "int", "float", "str", "choice", "set"]
OptionValue = bool | int | float | str | frozenset[str]

_TRUE = frozenset({"on", "true", "yes", "1"})
_FALSE = frozenset({"off", "false", "no", "0"})


@dataclass(frozen=True, slots=True)
class DriverOption:
    """One setting of a driver.

    ``choice`` takes one of ``choices``; ``set`` takes any subset of them, written with ``+``
    or ``,`` between the members (``waves=pleth+co2``; use ``+`` inside ``VIGIL_DEVICES``, whose
    entries are separated by commas), or ``none``.
    """

    name: str
    kind: OptionKind
    default: OptionValue
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def describe_default(self) -> str:
        value = self.default
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, frozenset):
            return "+".join(sorted(value)) or "none"
        return str(value)

    def allowed(self) -> str:
        if self.kind == "bool":
            return "on/off (or true/false)"
        if self.kind in ("choice", "set"):
            joined = ", ".join(self.choices)
            return f"one of {joined}" if self.kind == "choice" else f"any of {joined} (or none)"
        low = "" if self.minimum is None else f"{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        kind = "a whole number" if self.kind == "int" else "a number"
        if low and high:
            return f"{kind} from {low} to {high}"
        if low:
            return f"{kind} of at least {low}"
        if high:
            return f"{kind} of at most {high}"
        return kind if self.kind != "str" else "text"

    def parse(self, raw: str, driver: str) -> OptionValue:
        text = raw.strip()

        def bad() -> DriverUsageError:
            return DriverUsageError(
                f"{driver}: option {self.name}={raw!r} is not valid: {self.allowed()}"
            )

        if self.kind == "bool":
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise bad()
        if self.kind in ("int", "float"):
            try:
                number: float = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise bad() from None
            if not math.isfinite(number):
                raise bad()
            if self.minimum is not None and number < self.minimum:
                raise bad()
            if self.maximum is not None and number > self.maximum:
                raise bad()
            return number
        if self.kind == "choice":
            if text not in self.choices:
                raise bad()
            return text
        if self.kind == "set":
            if text.lower() in ("", "none"):
                return frozenset()
            members = frozenset(part.strip() for part in text.replace(",", "+").split("+"))
            if "" in members or not members <= set(self.choices):
                raise bad()
            return members
        if not text:
            raise bad()
        return text


def validate_options(
    driver: str, declared: Sequence[DriverOption], raw: Mapping[str, str]
) -> dict[str, OptionValue]:
    """Every declared option's value: the given one parsed, else its default."""
    by_name = {option.name: option for option in declared}
    unknown = sorted(set(raw) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise DriverUsageError(
            f"{driver}: unknown option {unknown[0]!r}; options of {driver}: {known}"
        )
    values: dict[str, OptionValue] = {}
    for option in declared:
        values[option.name] = (
            option.parse(raw[option.name], driver) if option.name in raw else option.default
        )
    return values


def parse_option_text(text: str, spec: str) -> dict[str, str]:
    """``KEY=VALUE;KEY=VALUE`` (what follows the URL in a device spec) into raw strings."""
    options: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DriverUsageError(f"device option {part.strip()!r} in {spec!r} is not KEY=VALUE")
        if key in options:
            raise DriverUsageError(f"device option {key!r} given twice in {spec!r}")
        options[key] = value.strip()
    return options
