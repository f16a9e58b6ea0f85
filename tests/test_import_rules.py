"""The layer rules of docs/architecture.md, enforced on every import statement in the tree."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)

# package prefix -> (allowed top-level roots or module prefixes, forbidden module prefixes)
RULES: list[tuple[str, set[str], set[str]]] = [
    # Codecs are sans-I/O: standard library only, and none of its I/O or clock modules.
    (
        "drivers/codecs",
        STDLIB | {"drivers.codecs", "drivers.errors"},
        {"asyncio", "time", "socket", "threading", "logging.handlers", "serial", "select", "os"},
    ),
    (
        "drivers/transports",
        STDLIB | {"serial", "drivers.transports", "drivers.errors"},
        {"drivers.codecs", "drivers.sessions"},
    ),
    ("drivers/sessions", STDLIB | {"drivers"}, {"service", "simulator", "fastapi", "sqlalchemy"}),
    ("drivers", STDLIB | {"drivers", "serial"}, {"service", "simulator", "fastapi", "sqlalchemy"}),
    # Emulators never borrow the driver's encoder or decoder: only the readings vocabulary.
    (
        "simulator",
        STDLIB | {"simulator", "drivers.readings"},
        {"drivers.codecs", "drivers.sessions", "drivers.transports", "service"},
    ),
    # The pure alarm engine: no I/O, no clock.
    (
        "service/alarms",
        STDLIB | {"service.alarms", "drivers.readings"},
        {"asyncio", "time", "socket", "sqlalchemy", "fastapi", "threading"},
    ),
    # Bedside-unit integration (systemd, sound, sysfs): no drivers, no web or database code.
    (
        "service/platform",
        STDLIB | {"service.platform", "service.alarms.model"},
        {"simulator", "drivers", "fastapi", "sqlalchemy"},
    ),
    # The central link: MQTT (paho) and the database; never the drivers' codecs or sessions.
    (
        "service/central",
        STDLIB
        | {
            "service",
            "drivers.readings",
            "paho",
            "sqlalchemy",
            "pydantic",
            "pydantic_settings",
            "fastapi",
            "starlette",
            "uvicorn",
        },
        {"simulator", "drivers.codecs", "drivers.sessions"},
    ),
    (
        "service",
        STDLIB
        | {
            "service",
            "drivers",
            "fastapi",
            "starlette",
            "uvicorn",
            "sqlalchemy",
            "alembic",
            "pydantic",
            "pydantic_settings",
            "serial",
            "fpdf",
        },
        {"simulator"},
    ),
]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.append(node.module)
    return names


def rule_for(path: Path) -> tuple[str, set[str], set[str]]:
    rel = path.relative_to(ROOT).as_posix()
    for prefix, allowed, forbidden in RULES:
        if rel.startswith(prefix + "/"):
            return prefix, allowed, forbidden
    raise LookupError(rel)


def allowed_by(name: str, allowed: set[str]) -> bool:
    return name.split(".")[0] in allowed or any(
        name == a or name.startswith(a + ".") for a in allowed
    )


def forbidden_by(name: str, forbidden: set[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


SOURCES = sorted(
    p
    for pkg in ("drivers", "simulator", "service")
    for p in (ROOT / pkg).rglob("*.py")
    if "migrations" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_layer_rules(path: Path) -> None:
    prefix, allowed, forbidden = rule_for(path)
    bad = [
        name
        for name in imports(path)
        if name != "__future__" and (forbidden_by(name, forbidden) or not allowed_by(name, allowed))
    ]
    assert not bad, f"{path.relative_to(ROOT)} ({prefix}) may not import {bad}"


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in SOURCES
        if p.relative_to(ROOT).as_posix().startswith(("drivers/codecs", "service/alarms"))
    ],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_pure_layers_never_read_a_clock(path: Path) -> None:
    text = path.read_text()
    for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "time.monotonic(", ".today("):
        assert call not in text, f"{path.name} reads the clock ({call}); take `now` as input"


def test_the_rule_checker_catches_a_violation(tmp_path: Path) -> None:
    assert forbidden_by("drivers.codecs.masimo_ascii", {"drivers.codecs"})
    assert not allowed_by("serial", STDLIB | {"drivers.codecs"})
    assert allowed_by("drivers.readings", {"drivers.readings"})
