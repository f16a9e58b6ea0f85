"""The layer rules of docs/architecture.md, enforced on every import statement in the tree, and
an import graph without cycles (TYPE_CHECKING and function-level imports included)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)
PACKAGES = ("drivers", "simulator", "service", "central")

#: What the clinic central station (central/, a separate program) may use of the bed's code:
#: the named seams of docs/architecture.md, nothing else. Module -> the names it may import
#: from it (None: any).
CENTRAL_SEAMS: dict[str, set[str] | None] = {
    "service.mqtt_schema": None,  # the MQTT schema, shared by both ends
    "service.serialize": {"iso"},
    "service.settings": {"from_sources"},
    "service.api.auth": None,  # the sign-in routes, typed against AuthHost
    "service.api.deps": {"AuthHost", "provide_auth_host"},
    "service.api.security": {"Nurse", "Viewer", "Admin", "MaybeUser", "origin_guard"},
    "service.api.live": {"origin_allowed", "run_socket"},
    "service.auth.signins": {"COOKIE", "SignInStore"},
    "service.auth.throttle": {"Burst", "Throttle"},
    "service.auth.users": {"Role", "User", "UserStore"},
    "service.persistence.db": None,  # the engine and the migration runner
    "service.persistence.models": {"UtcDateTime"},
    "service.platform.systemd": None,
    "service.tasks": {"TaskSupervisor", "off_loop"},
    "drivers.clock": {"Clock", "SystemClock", "FakeClock"},
}

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
        {"drivers.codecs", "drivers.handlers"},
    ),
    ("drivers/handlers", STDLIB | {"drivers"}, {"service", "simulator", "fastapi", "sqlalchemy"}),
    ("drivers", STDLIB | {"drivers", "serial"}, {"service", "simulator", "fastapi", "sqlalchemy"}),
    # Emulators never borrow the driver's encoder or decoder: only the readings vocabulary.
    (
        "simulator",
        STDLIB | {"simulator", "drivers.readings"},
        {"drivers.codecs", "drivers.handlers", "drivers.transports", "service"},
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
        STDLIB | {"service.platform", "service.alarms.model", "service.alarms.annunciation"},
        {"simulator", "drivers", "fastapi", "sqlalchemy"},
    ),
    # The MQTT schema both ends share: pure, so the central never loads the bed to read it.
    ("service/mqtt_schema.py", STDLIB | {"service.serialize"}, set()),
    # The bed's side of the central link: MQTT (paho) and the bed's database, through the small
    # UplinkHost protocol; never the runtime itself, never the central station.
    (
        "service/link",
        STDLIB | {"service", "drivers.readings", "drivers.clock", "paho", "sqlalchemy"},
        {"service.runtime", "service.api", "service.infusions", "central", "simulator"},
    ),
    # The command line starts either program: `vigil central` imports the central's app.
    (
        "service/cli.py",
        STDLIB
        | {"service", "drivers", "uvicorn", "sqlalchemy", "pydantic", "central.app"}
        | {"central.db", "central.settings"},
        {"simulator", "central.station", "central.api"},
    ),
    # The clinic central station: a separate program, sharing only the named seams.
    (
        "central",
        STDLIB
        | set(CENTRAL_SEAMS)
        | {
            "central",
            "paho",
            "sqlalchemy",
            "alembic",
            "pydantic",
            "pydantic_settings",
            "fastapi",
            "starlette",
            "uvicorn",
        },
        {
            "service.runtime",
            "service.alarms",
            "service.alarm_runner",
            "service.infusions",
            "service.link",
            "service.bus",
            "service.live",
            "drivers.codecs",
            "drivers.handlers",
            "drivers.transports",
            "simulator",
        },
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
        # The bed never imports the central station (only service/cli.py starts it).
        {"simulator", "central"},
    ),
]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path = ROOT) -> bool:
    """``name`` is a module or package of the tree (not a name defined in one)."""
    where = root.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def import_statements(path: Path, root: Path = ROOT) -> list[tuple[str, str | None]]:
    """Every import in the file, anywhere (module level, functions, ``if TYPE_CHECKING:``), as
    (module, imported name or None). ``from pkg import mod`` is an import of ``pkg.mod``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, str | None]] = []
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                if is_module(f"{module}.{alias.name}", root):
                    found.append((f"{module}.{alias.name}", None))
                else:
                    found.append((module, alias.name))
    return found


def imports(path: Path, root: Path = ROOT) -> list[str]:
    return list(dict.fromkeys(module for module, _ in import_statements(path, root)))


def rule_for(path: Path) -> tuple[str, set[str], set[str]]:
    rel = path.relative_to(ROOT).as_posix()
    for prefix, allowed, forbidden in RULES:
        if rel == prefix or rel.startswith(prefix + "/"):
            return prefix, allowed, forbidden
    raise LookupError(rel)


def allowed_by(name: str, allowed: set[str]) -> bool:
    return name.split(".")[0] in allowed or any(
        name == a or name.startswith(a + ".") for a in allowed
    )


def forbidden_by(name: str, forbidden: set[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


SOURCES = sorted(
    p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
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
    assert allowed_by("central.app", {"central.app"})
    assert not allowed_by("service.runtime", set(CENTRAL_SEAMS))


# -- the central station uses only the named seams ------------------------------------------


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if p.relative_to(ROOT).parts[0] == "central"],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_the_central_station_takes_only_the_named_seams(path: Path) -> None:
    bad = [
        f"{module}.{name}" if name else module
        for module, name in import_statements(path)
        if (allowed := CENTRAL_SEAMS.get(module)) is not None
        and (name is None or name not in allowed)
    ]
    assert not bad, f"{path.relative_to(ROOT)} takes more of the bed than its seams: {bad}"


def test_the_central_station_runs_without_the_bed_runtime() -> None:
    """The station, its database and the MQTT schema load none of the bed's runtime, uplink or
    API (central/app.py still does, through service/api/live.py and deps.py, which import
    service.runtime at module level for the bed's own routes)."""
    import subprocess

    probe = (
        "import sys, service.mqtt_schema, central.station, central.db\n"
        "bed = ('service.runtime', 'service.link', 'service.api', 'service.infusions.manager',"
        " 'service.bus', 'service.live')\n"
        "print([m for m in bed if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- no import cycles -----------------------------------------------------------------------


def import_graph(packages: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the tree it imports (anywhere in the file, TYPE_CHECKING blocks
    included: a cycle there is still two modules that cannot be understood one without the
    other). An import of a name resolves to its module; of a module, to that module."""
    paths = {
        module_name(p, root): p
        for pkg in packages
        for p in (root / pkg).rglob("*.py")
        if "migrations" not in p.parts
    }

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = {resolve(module) for module in imports(path, root)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycles() -> None:
    graph = import_graph(PACKAGES)
    assert {"central.station", "central.api", "service.runtime", "service.link.uplink"} <= set(
        graph
    )
    described = [
        " <-> ".join(c) + "".join(f"\n    {m} -> {sorted(graph[m] & set(c))}" for m in c)
        for c in cycles(graph)
    ]
    assert not described, "import cycles:\n" + "\n".join(described)


def test_the_cycle_check_sees_type_checking_and_function_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.c import C\n"
    )
    (pkg / "c.py").write_text("from pkg.a import f\n")
    (pkg / "d.py").write_text("from pkg import a\n")
    graph = import_graph(["pkg"], root=tmp_path)
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
