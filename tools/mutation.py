"""Mutation testing for Vigil: ``make mutation`` (docs/testing.md).

A *mutant* is one small change to one source module — a comparison flipped at its boundary, a
constant moved by one, a condition negated, an operator swapped, a statement deleted, a string
changed — and the module's own tests (``tools/mutation.toml``) must fail for it. A mutant they
pass *survives*: the tests cannot tell that code from the real one.

How it runs, and why it is not mutmut or cosmic-ray (docs/testing.md, "Tool"):

* mutants are built from the module's AST in memory and loaded by an import hook in a forked
  child process; no file of the working tree is ever written, so other people's test runs in the
  same tree never see a mutant (cosmic-ray and mutmut 2 rewrite the source file in place);
* module-level code is mutated too — the protocol tables (``IntFlag`` bodies, unit maps, ranges,
  struct formats) are exactly what must be pinned, and mutmut 3 mutates function bodies only;
* a baseline run traces which test executes which line of the module; a mutant then runs only the
  tests that execute its line (every test for module-level code), fastest first, stopping at the
  first failure (``-x``), with a time-out; the parent has pytest, hypothesis and the other
  third-party imports loaded once and forks a child per mutant; ``--jobs`` children at a time;
* hypothesis runs derandomised, without its example database and without health checks or
  deadlines, so a result is repeatable and a mutant run never writes into ``.hypothesis/``;
  ``.pytest_cache`` is left alone too (``-p no:cacheprovider``).

Not mutated (each would only add noise): docstrings, f-strings, the arguments of ``raise`` and
of the diagnostic calls listed in ``message_calls`` (texts for logs), type annotations and type
aliases, decorators, ``assert`` statements, ``__all__``/``__slots__``.

Usage::

    python -m tools.mutation                       # every target of the default group (codecs)
    python -m tools.mutation --target ge_dri       # one target (repeatable)
    python -m tools.mutation --group service       # the alarm engine, rules, ... (see the toml)
    python -m tools.mutation --target ge_dri --rerun-survivors   # only last run's survivors
    python -m tools.mutation --list ge_dri         # the mutants, without running anything
    python -m tools.mutation --show ge_dri:17      # one mutant as a diff

Results go to ``data/mutation/<target>.json`` (git-ignored) and a summary to stdout.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import fnmatch
import glob
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import CodeType, FrameType, ModuleType
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tools" / "mutation.toml"
OUT_DIR = ROOT / "data" / "mutation"
#: Top-level packages of this project: purged from a child's ``sys.modules`` so that every
#: module that uses the mutated one imports the mutant, never a copy loaded in the parent.
PROJECT_PACKAGES = ("drivers", "service", "simulator", "tests", "bench", "conftest")
HYPOTHESIS_PROFILE = "vigil-mutation"
ENUM_BASES = {"Enum", "IntEnum", "IntFlag", "Flag", "StrEnum"}

# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One module and the pytest arguments that select its own tests."""

    name: str
    module: str
    path: Path
    tests: tuple[str, ...]
    group: str
    #: False: run with ``--noconftest`` (tests/conftest.py imports the service and the simulator
    #: runner, which the codec tests do not need; skipping it makes every mutant run faster).
    conftest: bool = True


@dataclass(frozen=True)
class Equivalent:
    """A survivor judged equivalent (it cannot change what the module does), with the reason."""

    target: str
    line: int
    mutation: str
    reason: str


@dataclass(frozen=True)
class Config:
    targets: tuple[Target, ...]
    equivalents: tuple[Equivalent, ...]
    message_calls: frozenset[str]
    default_group: str


def load_config(path: Path = CONFIG) -> Config:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    targets = []
    for entry in raw.get("target", []):
        module = str(entry["module"])
        file = ROOT / (module.replace(".", "/") + ".py")
        targets.append(
            Target(
                name=str(entry["name"]),
                module=module,
                path=file,
                tests=tuple(str(t) for t in entry["tests"]),
                group=str(entry.get("group", "default")),
                conftest=bool(entry.get("conftest", True)),
            )
        )
    equivalents = tuple(
        Equivalent(str(e["target"]), int(e["line"]), str(e["mutation"]), str(e["reason"]))
        for e in raw.get("equivalent", [])
    )
    settings = raw.get("settings", {})
    return Config(
        targets=tuple(targets),
        equivalents=equivalents,
        message_calls=frozenset(settings.get("message_calls", [])),
        default_group=str(settings.get("default_group", "codecs")),
    )


def expand_tests(tests: Sequence[str]) -> list[str]:
    """pytest arguments with file globs expanded (relative to the project root)."""
    out: list[str] = []
    for arg in tests:
        if arg.startswith("-") or not any(ch in arg for ch in "*?["):
            out.append(arg)
            continue
        matches = sorted(glob.glob(arg, root_dir=ROOT))
        if not matches:
            raise SystemExit(f"mutation: no test file matches {arg!r}")
        out += matches
    return out


# --- mutants ---------------------------------------------------------------------------------

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitOr,
}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.And: "and",
    ast.Or: "or",
}
_DELETABLE = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Return,
    ast.Raise,
    ast.Continue,
    ast.Break,
    ast.Delete,
)

Setter = Callable[[ast.AST], None]


@dataclass(frozen=True)
class Mutant:
    """One mutation site; ``index`` is its position in the module's deterministic walk."""

    index: int
    line: int
    end_line: int
    col: int
    operator: str
    description: str
    #: "code" (inside a function body), "table" (a module-level assignment or an enum body:
    #: the protocol tables and limits) or "module" (other module-level code).
    region: str


@dataclass
class _Site:
    mutant: Mutant
    apply: Callable[[], None]


def _short(node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _setter(parent: ast.AST, name: str, index: int | None) -> Setter:
    def set_node(new: ast.AST) -> None:
        if index is None:
            setattr(parent, name, new)
        else:
            getattr(parent, name)[index] = new

    return set_node


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_type_alias(value: ast.expr | None) -> bool:
    """``A | B | C`` of bare names: a type alias, not a protocol value."""
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return _is_type_alias(value.left) and _is_type_alias(value.right)
    return isinstance(value, ast.Name)


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


@dataclass
class _Context:
    region: str
    in_function: bool
    strings: bool = True


class _Collector:
    """Walks a module in a fixed order and records every mutation site."""

    def __init__(self, message_calls: frozenset[str]) -> None:
        self.message_calls = message_calls
        self.sites: list[_Site] = []

    def add(
        self,
        node: ast.AST,
        operator: str,
        description: str,
        ctx: _Context,
        apply: Callable[[], None],
    ) -> None:
        line: int = getattr(node, "lineno", 0)
        end_line: int = getattr(node, "end_lineno", None) or line
        mutant = Mutant(
            index=len(self.sites),
            line=line,
            end_line=end_line,
            col=getattr(node, "col_offset", 0),
            operator=operator,
            description=description,
            region=ctx.region,
        )
        self.sites.append(_Site(mutant, apply))

    # -- statements --

    def module(self, tree: ast.Module) -> None:
        for index, stmt in enumerate(tree.body):
            if index == 0 and _is_docstring(stmt):
                continue
            enum = isinstance(stmt, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in ENUM_BASES for b in stmt.bases
            )
            data = isinstance(stmt, ast.Assign | ast.AnnAssign)
            region = "table" if enum or data else "module"
            self.statement(tree, "body", index, stmt, _Context(region, in_function=False))

    def body(self, parent: ast.AST, name: str, ctx: _Context) -> None:
        statements: list[ast.stmt] = getattr(parent, name)
        for index, stmt in enumerate(statements):
            owner = isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if index == 0 and name == "body" and owner and _is_docstring(stmt):
                continue
            self.statement(parent, name, index, stmt, ctx)

    def statement(
        self, parent: ast.AST, name: str, index: int, stmt: ast.stmt, ctx: _Context
    ) -> None:
        if isinstance(stmt, ast.Import | ast.ImportFrom | ast.Pass | ast.Global | ast.Nonlocal):
            return
        if isinstance(stmt, ast.Assert):
            return
        if self._deletable(stmt, ctx, module_level=isinstance(parent, ast.Module)):
            statements: list[ast.stmt] = getattr(parent, name)

            def delete(statements: list[ast.stmt] = statements, at: int = index) -> None:
                statements[at] = ast.copy_location(ast.Pass(), statements[at])

            self.add(stmt, "delete", f"delete `{_short(stmt)}`", ctx, delete)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for name in ("defaults", "kw_defaults"):
                for i, default in enumerate(getattr(stmt.args, name)):
                    if default is not None:
                        self.expr(default, _setter(stmt.args, name, i), ctx)
            self.body(stmt, "body", _Context("code", in_function=True))
            return
        if isinstance(stmt, ast.ClassDef):
            self.body(stmt, "body", ctx)
            return
        if isinstance(stmt, ast.Raise):
            return  # the exception and its message are not mutated; deleting the raise is
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.expr(stmt.value, _setter(stmt, "value", None), ctx)
            return
        if isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            if "__all__" in names or "__slots__" in names or _is_type_alias(stmt.value):
                return
        if isinstance(stmt, ast.If | ast.While):
            self.negate(stmt, "test", None, stmt.test, ctx)
        self.children(stmt, ctx)

    def _deletable(self, stmt: ast.stmt, ctx: _Context, module_level: bool) -> bool:
        if not isinstance(stmt, _DELETABLE) or _is_docstring(stmt):
            return False
        if module_level and isinstance(stmt, ast.Assign | ast.AnnAssign):
            return False  # a module-level name deleted is only a NameError at import
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            return False
        if isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            if "__all__" in names or "__slots__" in names or _is_type_alias(stmt.value):
                return False
        return True

    def negate(
        self, parent: ast.AST, name: str, index: int | None, test: ast.expr, ctx: _Context
    ) -> None:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return  # removing the ``not`` is already a mutant
        set_node = _setter(parent, name, index)

        def apply(test: ast.expr = test) -> None:
            set_node(ast.copy_location(ast.UnaryOp(ast.Not(), test), test))

        self.add(test, "negate", f"negate `{_short(test)}`", ctx, apply)

    # -- expressions --

    def children(self, node: ast.AST, ctx: _Context) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.stmt):
                        continue  # statement lists are walked by ``body``
                    if isinstance(item, ast.expr):
                        self.expr(item, _setter(node, name, index), ctx)
                    elif isinstance(item, ast.AST):
                        self.children(item, ctx)
                if value and isinstance(value[0], ast.stmt):
                    self.body(node, name, ctx)
            elif isinstance(value, ast.expr):
                self.expr(value, _setter(node, name, None), ctx)
            elif isinstance(value, ast.AST):
                self.children(value, ctx)

    def expr(self, node: ast.expr, set_node: Setter, ctx: _Context) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.Constant):
            self.constant(node, set_node, ctx)
            return
        if isinstance(node, ast.UnaryOp):
            operand = node.operand
            if (
                isinstance(node.op, ast.USub)
                and isinstance(operand, ast.Constant)
                and isinstance(operand.value, int | float)
                and not isinstance(operand.value, bool)
            ):
                self.number(node, -operand.value, set_node, ctx)
                return
            if isinstance(node.op, ast.Not | ast.USub | ast.Invert):
                symbol = {ast.Not: "not ", ast.USub: "-", ast.Invert: "~"}[type(node.op)]

                def remove(node: ast.UnaryOp = node) -> None:
                    set_node(node.operand)

                self.add(node, "unary", f"remove `{symbol}` from `{_short(node)}`", ctx, remove)
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swap = _COMPARE_SWAPS.get(type(op))
                if swap is None:
                    continue

                def flip(
                    node: ast.Compare = node, i: int = i, swap: type[ast.cmpop] = swap
                ) -> None:
                    node.ops[i] = swap()

                nth = f" (comparison {i + 1})" if len(node.ops) > 1 else ""
                text = f"`{_SYMBOLS[type(op)]}` → `{_SYMBOLS[swap]}` in `{_short(node)}`{nth}"
                self.add(node, "compare", text, ctx, flip)
        elif isinstance(node, ast.BinOp):
            binop = _BINOP_SWAPS.get(type(node.op))
            if binop is not None:

                def swap_op(node: ast.BinOp = node, new: type[ast.operator] = binop) -> None:
                    node.op = new()

                text = f"`{_SYMBOLS[type(node.op)]}` → `{_SYMBOLS[binop]}` in `{_short(node)}`"
                self.add(node, "binop", text, ctx, swap_op)
        elif isinstance(node, ast.BoolOp):
            other: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And

            def swap_bool(node: ast.BoolOp = node, new: type[ast.boolop] = other) -> None:
                node.op = new()

            text = f"`{_SYMBOLS[type(node.op)]}` → `{_SYMBOLS[other]}` in `{_short(node)}`"
            self.add(node, "boolop", text, ctx, swap_bool)
        elif isinstance(node, ast.IfExp):
            self.negate(node, "test", None, node.test, ctx)
        elif isinstance(node, ast.Lambda):
            self.expr(node.body, _setter(node, "body", None), _Context("code", True, ctx.strings))
            return
        elif isinstance(node, ast.Call) and _call_name(node) in self.message_calls:
            inner = _Context(ctx.region, ctx.in_function, strings=False)
            self.expr(node.func, _setter(node, "func", None), ctx)
            for i, arg in enumerate(node.args):
                self.expr(arg, _setter(node, "args", i), inner)
            for keyword in node.keywords:
                self.expr(keyword.value, _setter(keyword, "value", None), inner)
            return
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            for generator in node.generators:
                for i, condition in enumerate(generator.ifs):
                    self.negate(generator, "ifs", i, condition, ctx)
        self.children(node, ctx)

    def constant(self, node: ast.Constant, set_node: Setter, ctx: _Context) -> None:
        value = node.value
        if isinstance(value, bool):

            def flip(node: ast.Constant = node) -> None:
                node.value = not node.value

            self.add(node, "constant", f"{value!r} → {not value!r}", ctx, flip)
        elif isinstance(value, int | float):
            self.number(node, value, set_node, ctx)
        elif isinstance(value, str) and ctx.strings:
            text = "XX" + value + "XX"

            def change(node: ast.Constant = node, text: str = text) -> None:
                node.value = text

            self.add(node, "string", f"{value!r} → {text!r}", ctx, change)
        elif isinstance(value, bytes) and ctx.strings:
            data = b"X" + value

            def change_bytes(node: ast.Constant = node, data: bytes = data) -> None:
                node.value = data

            self.add(node, "string", f"{value!r} → {data!r}", ctx, change_bytes)

    def number(self, node: ast.expr, value: float, set_node: Setter, ctx: _Context) -> None:
        for delta in (1, -1):
            new = value + delta

            def apply(node: ast.expr = node, new: float = new) -> None:
                set_node(ast.copy_location(ast.Constant(new), node))

            self.add(node, "constant", f"{value!r} → {new!r}", ctx, apply)


def collect(source: str, message_calls: frozenset[str]) -> tuple[ast.Module, list[_Site]]:
    tree = ast.parse(source)
    collector = _Collector(message_calls)
    collector.module(tree)
    return tree, collector.sites


def mutants_of(source: str, message_calls: frozenset[str]) -> list[Mutant]:
    return [site.mutant for site in collect(source, message_calls)[1]]


def mutated_tree(source: str, message_calls: frozenset[str], index: int) -> ast.Module:
    tree, sites = collect(source, message_calls)
    sites[index].apply()
    return ast.fix_missing_locations(tree)


def mutated_code(source: str, path: Path, message_calls: frozenset[str], index: int) -> CodeType:
    return compile(mutated_tree(source, message_calls, index), str(path), "exec", dont_inherit=True)


def mutant_diff(source: str, message_calls: frozenset[str], index: int) -> str:
    original = ast.unparse(ast.parse(source)).splitlines()
    changed = ast.unparse(mutated_tree(source, message_calls, index)).splitlines()
    return "\n".join(
        difflib.unified_diff(original, changed, "original", "mutant", n=2, lineterm="")
    )


# --- the child process: an import hook and two pytest plugins ------------------------------


class _MutantLoader(importlib.abc.Loader):
    def __init__(self, code: CodeType) -> None:
        self.code = code

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Serves the mutated code for exactly one module name."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=_MutantLoader(self.code)
        )


def _project_module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path, name: str) -> set[str]:
    """The modules a project file imports (statically; relative imports resolved)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def dependents(module: str) -> set[str]:
    """``module`` and every project module that imports it, directly or through others."""
    graph: dict[str, set[str]] = {}
    for top in PROJECT_PACKAGES:
        folder = ROOT / top
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            if ".venv" in path.parts:
                continue
            name = _project_module_name(path)
            graph[name] = _imports_of(path, name)
    closure = {module}
    changed = True
    while changed:
        changed = False
        for name, imports in graph.items():
            if name not in closure and imports & closure:
                closure.add(name)
                changed = True
    return closure


def _purge_project_modules(only: set[str] | None = None) -> None:
    """Forget project modules (all of them, or ``only`` these) so they are imported afresh."""
    root = str(ROOT) + os.sep
    venv = str(ROOT / ".venv") + os.sep
    for name, module in list(sys.modules.items()):
        if name == "tools" or name.startswith("tools."):
            continue
        if only is not None:
            if name in only or name.startswith("_mutation_warmup_"):
                _forget(name, module)
            continue
        file = getattr(module, "__file__", None) or ""
        top = name.split(".", 1)[0]
        if top in PROJECT_PACKAGES or (file.startswith(root) and not file.startswith(venv)):
            _forget(name, module)


def _forget(name: str, module: ModuleType) -> None:
    """Drop a module, and its attribute on its package: ``from drivers.codecs import x`` reads
    that attribute before it looks in ``sys.modules``."""
    del sys.modules[name]
    package, _, child = name.rpartition(".")
    parent = sys.modules.get(package)
    if parent is not None and getattr(parent, child, None) is module:
        delattr(parent, child)


class TracePlugin:
    """Baseline run: which lines of the target each test executes, and how long each takes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current: str | None = None
        self.lines: dict[str, set[int]] = {}
        self.import_lines: set[int] = set()
        self.durations: dict[str, float] = {}
        self.failed: list[str] = []
        self._started = 0.0

    def start(self) -> None:
        threading.settrace(self._global)
        sys.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(None)
        threading.settrace(None)

    def _global(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename == self.filename:
            return self._local
        return None

    def _local(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            if self.current is None:
                self.import_lines.add(frame.f_lineno)
            else:
                self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._local

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.current = nodeid
        self._started = time.perf_counter()

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.durations[nodeid] = time.perf_counter() - self._started
        self.lines.setdefault(nodeid, set())
        self.current = None

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.failed.append(report.nodeid)

    def result(self) -> dict[str, Any]:
        return {
            "tests": {
                nodeid: {"lines": sorted(self.lines.get(nodeid, ())), "seconds": seconds}
                for nodeid, seconds in self.durations.items()
            },
            "import_lines": sorted(self.import_lines),
            "failed": self.failed,
        }


class SelectPlugin:
    """Mutant run: only the selected tests, in the given order. The status file names the test
    running (``running <nodeid>``), then the first that failed (``failed <nodeid>``)."""

    def __init__(self, selected: Sequence[str], known: Sequence[str], status_file: Path) -> None:
        self.order = {nodeid: i for i, nodeid in enumerate(selected)}
        self.known = set(known)
        self.status_file = status_file
        self.failed = False

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        # A test the baseline did not see is run too, last: parametrize ids made from values
        # the mutant computes (``encode_x()`` in a parameter list) change with the mutant.
        keep = sorted(
            (i for i in items if i.nodeid in self.order), key=lambda i: self.order[i.nodeid]
        )
        keep += [i for i in items if i.nodeid not in self.known]
        dropped = [i for i in items if i.nodeid in self.known and i.nodeid not in self.order]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if not self.failed:
            self.status_file.write_text(f"running {nodeid}", encoding="utf-8")

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.failed:
            self.failed = True
            self.status_file.write_text(f"failed {report.nodeid}", encoding="utf-8")


def _pytest_args(tests: Sequence[str], *, stop_first: bool, conftest: bool) -> list[str]:
    args = ["-q", "--no-header", "-p", "no:cacheprovider", "-o", "console_output_style=classic"]
    if not conftest:
        args += ["--noconftest"]
    args += [f"--hypothesis-profile={HYPOTHESIS_PROFILE}"]
    if stop_first:
        args += ["-x"]
    return args + list(tests)


def _run_pytest_in_child(args: list[str], plugin: object, log: Path | None) -> int:
    """Runs in the forked child: never returns to the caller's loop."""
    import pytest

    fd = os.open(log if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return int(pytest.main(args, plugins=[plugin]))


def _child_exit(run: Callable[[], int]) -> NoReturn:
    code = 3
    try:
        os.setpgid(0, 0)  # its own process group, so a time-out kills what it started too
        code = run()
    except BaseException:  # a mutant may break anything; the parent only needs the exit code
        code = 3
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# --- the parent: warm-up, baseline, scheduling ------------------------------------------------


def _warm_up(test_args: Sequence[str], forget: set[str]) -> None:
    """Import pytest, hypothesis, the pytest plugins and the tests' dependencies once, in the
    parent, so that a forked child only imports the target and the modules that import it
    (``forget``: their names; every other module stays loaded)."""
    import hypothesis
    import pytest  # noqa: F401

    hypothesis.settings.register_profile(
        HYPOTHESIS_PROFILE,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    for entry in importlib.metadata.entry_points(group="pytest11"):
        with contextlib.suppress(Exception):
            importlib.import_module(entry.module)
    for arg in test_args:
        path = ROOT / arg.split("::", 1)[0]
        if arg.startswith("-") or path.suffix != ".py" or not path.is_file():
            continue
        spec = importlib.util.spec_from_file_location(f"_mutation_warmup_{path.stem}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        with contextlib.suppress(BaseException):
            spec.loader.exec_module(module)
    for name in [n for n in sys.modules if n.startswith("_mutation_warmup_")]:
        del sys.modules[name]
    _purge_project_modules(forget)


@dataclass
class _Job:
    mutant: Mutant
    pid: int
    started: float
    deadline: float
    status_file: Path
    timed_out: bool = False


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout | error | not_covered | equivalent
    #: The test that failed first (or was running at the time-out); None for an import error.
    killer: str | None = None
    seconds: float = 0.0


@dataclass
class TargetResult:
    target: Target
    outcomes: list[Outcome] = field(default_factory=list)
    baseline_seconds: float = 0.0
    first: tuple[str, ...] = ()

    def counts(self, region: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if region is None or outcome.mutant.region == region:
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


KILLED = ("killed", "timeout", "error")


def score(outcomes: Sequence[Outcome], *, without_equivalents: bool = False) -> float | None:
    pool = [o for o in outcomes if not (without_equivalents and o.status == "equivalent")]
    if not pool:
        return None
    return 100.0 * sum(o.status in KILLED for o in pool) / len(pool)


def matches(nodeid: str, patterns: Sequence[str]) -> bool:
    file = nodeid.split("::", 1)[0]
    return any(fnmatch.fnmatch(file, pattern) for pattern in patterns)


def first_score(outcomes: Sequence[Outcome], first: Sequence[str]) -> float | None:
    """The score of the ``--first`` tests alone: they run before the others, and with ``-x`` a
    mutant they kill never reaches another test (an import error kills with any test)."""
    if not outcomes:
        return None
    killed = sum(
        o.status in KILLED and (o.killer is None or matches(o.killer, first)) for o in outcomes
    )
    return 100.0 * killed / len(outcomes)


def _baseline(
    target: Target, tests: list[str], forget: set[str], log_dir: Path | None
) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix="vigil-mutation-trace-", suffix=".json")[1])
    pid = os.fork()
    if pid == 0:

        def run() -> int:
            _purge_project_modules(forget)
            plugin = TracePlugin(str(target.path))
            log = log_dir / f"{target.name}-baseline.log" if log_dir else None
            args = _pytest_args(tests, stop_first=False, conftest=target.conftest)
            plugin.start()
            try:
                code = _run_pytest_in_child(args, plugin, log)
            finally:
                plugin.stop()
            out.write_text(json.dumps(plugin.result()), encoding="utf-8")
            return code

        _child_exit(run)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError:
        result = {}
    finally:
        out.unlink(missing_ok=True)
    if code != 0 or not result.get("tests"):
        failed = ", ".join(result.get("failed", [])[:5])
        raise SystemExit(
            f"mutation: the tests of {target.name} do not pass unmutated (pytest exit {code}"
            f"{'; failed: ' + failed if failed else ''}); run them: pytest {' '.join(tests)}"
        )
    return result


def _select(mutant: Mutant, trace: dict[str, Any], first: Sequence[str]) -> list[str]:
    """The tests that execute the mutant's lines (all of them for module-level code): the
    ``first`` ones first, each group fastest first."""
    tests: dict[str, dict[str, Any]] = trace["tests"]
    order = sorted(tests, key=lambda n: (not matches(n, first), tests[n]["seconds"]))
    span = set(range(mutant.line, mutant.end_line + 1))
    if mutant.region != "code" or span & set(trace["import_lines"]):
        return order
    return [nodeid for nodeid in order if span & set(tests[nodeid]["lines"])]


def run_target(
    target: Target,
    config: Config,
    *,
    jobs: int,
    only: set[int] | None,
    timeout_factor: float,
    first: Sequence[str],
    log_dir: Path | None,
    progress: Callable[[str], None],
) -> TargetResult:
    source = target.path.read_text(encoding="utf-8")
    mutants = mutants_of(source, config.message_calls)
    tests = expand_tests(target.tests)
    forget = dependents(target.module)
    started = time.perf_counter()
    _warm_up(tests, forget)
    trace = _baseline(target, tests, forget, log_dir)
    result = TargetResult(target, baseline_seconds=time.perf_counter() - started)
    result.first = tuple(first)
    equivalents = {(e.line, e.mutation) for e in config.equivalents if e.target == target.name}
    outcomes: dict[int, Outcome] = {}
    queue: list[tuple[Mutant, list[str]]] = []
    for mutant in mutants:
        if only is not None and mutant.index not in only:
            continue
        selected = _select(mutant, trace, first)
        if not selected:
            outcomes[mutant.index] = Outcome(mutant, "not_covered")
        else:
            queue.append((mutant, selected))
    progress(
        f"{target.name}: {len(mutants)} mutants, {len(queue)} to run, "
        f"{len(trace['tests'])} tests, baseline {result.baseline_seconds:.1f} s"
    )
    seconds = {nodeid: float(t["seconds"]) for nodeid, t in trace["tests"].items()}
    known = list(seconds)
    tmp = Path(tempfile.mkdtemp(prefix="vigil-mutation-"))
    running: dict[int, _Job] = {}
    done = 0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                mutant, selected = queue.pop(0)
                budget = sum(seconds[n] for n in selected)
                status_file = tmp / f"{mutant.index}.status"
                pid = _spawn(
                    target,
                    tests,
                    source,
                    config,
                    mutant,
                    selected,
                    known,
                    status_file,
                    forget,
                    log_dir,
                )
                now = time.monotonic()
                deadline = now + 10.0 + timeout_factor * budget
                running[pid] = _Job(mutant, pid, now, deadline, status_file)
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for job in running.values():
                    if now > job.deadline and not job.timed_out:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(job.pid, signal.SIGKILL)
                        job.timed_out = True
                time.sleep(0.01)
                continue
            job = running.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            text = job.status_file.read_text("utf-8") if job.status_file.exists() else ""
            kind, _, nodeid = text.partition(" ")
            killer = nodeid or None
            if job.timed_out:
                state = "timeout"
            elif code == 0:
                state, killer = "survived", None
            elif code == 1 and kind == "failed":  # a test failed
                state = "killed"
            elif code == 2 or (code == 1 and not kind):  # collection (import) error
                state, killer = "killed", None
            else:
                state = "error"
            if state == "survived" and (job.mutant.line, job.mutant.description) in equivalents:
                state = "equivalent"
            outcomes[job.mutant.index] = Outcome(
                job.mutant, state, killer, round(time.monotonic() - job.started, 2)
            )
            done += 1
            if state in ("survived", "equivalent", "error"):
                m = job.mutant
                progress(f"  {state}: #{m.index} line {m.line}: {m.description}")
            elif done % 50 == 0:
                progress(f"  {done} run")
    finally:
        for job in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(job.pid, 0)
        for file in tmp.iterdir():
            file.unlink()
        tmp.rmdir()
    for index, outcome in outcomes.items():
        key = (outcome.mutant.line, outcome.mutant.description)
        if outcome.status == "not_covered" and key in equivalents:
            outcomes[index] = Outcome(outcome.mutant, "equivalent")
    result.outcomes = [outcomes[i] for i in sorted(outcomes)]
    return result


def _spawn(
    target: Target,
    tests: list[str],
    source: str,
    config: Config,
    mutant: Mutant,
    selected: list[str],
    known: list[str],
    status_file: Path,
    forget: set[str],
    log_dir: Path | None,
) -> int:
    pid = os.fork()
    if pid:
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also set in the child: whichever runs first
        return pid

    def run() -> int:
        _purge_project_modules(forget)
        code = mutated_code(source, target.path, config.message_calls, mutant.index)
        sys.meta_path.insert(0, _MutantFinder(target.module, target.path, code))
        log = log_dir / f"{target.name}-{mutant.index}.log" if log_dir else None
        # Only the files that hold a selected test are collected; plain asserts (no rewriting:
        # the environment may forbid .pyc caches, and a failure only needs to fail).
        # (A "-k" of the target is not needed: the baseline applied it to ``selected``.)
        files = list(dict.fromkeys(nodeid.split("::", 1)[0] for nodeid in selected))
        args = _pytest_args(files, stop_first=True, conftest=target.conftest)
        args.insert(0, "--assert=plain")
        plugin = SelectPlugin(selected, known, status_file)
        return _run_pytest_in_child(args, plugin, log)

    _child_exit(run)


# --- reports ---------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def summary_line(result: TargetResult) -> str:
    counts = result.counts()
    total = len(result.outcomes)
    table = [o for o in result.outcomes if o.mutant.region == "table"]
    first = ""
    if result.first:
        first = f"  --first tests alone {_fmt(first_score(result.outcomes, result.first)):>8}"
        first += f" (tables {_fmt(first_score(table, result.first))})"
    return (
        f"{result.target.name:20} {total:4} mutants  score {_fmt(score(result.outcomes)):>7}"
        f"  tables {_fmt(score(table)):>7}"
        f"  without equivalents {_fmt(score(result.outcomes, without_equivalents=True)):>7}"
        f"{first}  " + " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )


def save(result: TargetResult, source: str) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{result.target.name}.json"
    table = [o for o in result.outcomes if o.mutant.region == "table"]
    data = {
        "target": result.target.name,
        "module": result.target.module,
        "tests": list(result.target.tests),
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "score": score(result.outcomes),
        "score_without_equivalents": score(result.outcomes, without_equivalents=True),
        "table_score": score(table),
        "first": list(result.first),
        "first_score": first_score(result.outcomes, result.first) if result.first else None,
        "first_table_score": first_score(table, result.first) if result.first else None,
        "counts": result.counts(),
        "outcomes": [
            {**asdict(o.mutant), "status": o.status, "killer": o.killer, "seconds": o.seconds}
            for o in result.outcomes
        ],
    }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def previous_survivors(target: Target, source: str) -> set[int] | None:
    """Indices of last run's survivors, or None if there is no run of this exact source."""
    path = OUT_DIR / f"{target.name}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("source_sha256") != hashlib.sha256(source.encode()).hexdigest():
        return None
    return {o["index"] for o in data["outcomes"] if o["status"] not in KILLED}


def merge_with_previous(result: TargetResult) -> None:
    """After a partial (survivors-only) run: keep the earlier outcomes of the mutants not rerun."""
    path = OUT_DIR / f"{result.target.name}.json"
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    rerun = {o.mutant.index for o in result.outcomes}
    keys = {f.name for f in Mutant.__dataclass_fields__.values()}
    merged = list(result.outcomes)
    for o in data["outcomes"]:
        if o["index"] not in rerun:
            mutant = Mutant(**{k: o[k] for k in keys})
            merged.append(Outcome(mutant, o["status"], o.get("killer"), o.get("seconds", 0.0)))
    result.outcomes = sorted(merged, key=lambda o: o.mutant.index)


def markdown_report(config: Config, folder: Path) -> str:
    """The scores and every mutant not killed, from the saved results; a survivor listed in
    ``[[equivalent]]`` of the configuration counts as equivalent (with its reason)."""
    rows = [
        "| module | mutants | killed | equivalent | survived | score | without equivalents "
        "| tables |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for target in config.targets:
        path = folder / f"{target.name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        reasons = {
            (e.line, e.mutation): e.reason for e in config.equivalents if e.target == target.name
        }
        outcomes = []
        for o in data["outcomes"]:
            mutant = Mutant(**{k: o[k] for k in Mutant.__dataclass_fields__})
            status = o["status"]
            if (
                status in ("survived", "not_covered")
                and (mutant.line, mutant.description) in reasons
            ):
                status = "equivalent"
            outcomes.append(Outcome(mutant, status, o.get("killer")))
        table = [o for o in outcomes if o.mutant.region == "table"]
        left = [o for o in outcomes if o.status not in KILLED]
        equivalent = sum(o.status == "equivalent" for o in outcomes)
        killed = sum(o.status in KILLED for o in outcomes)
        sample = (
            " (sample)"
            if len(outcomes) < len(mutants_of(target.path.read_text("utf-8"), config.message_calls))
            else ""
        )
        rows.append(
            f"| `{target.module}`{sample} | {len(outcomes)} | {killed} | {equivalent} "
            f"| {len(left) - equivalent} | {_fmt(score(outcomes))} "
            f"| {_fmt(score(outcomes, without_equivalents=True))} | {_fmt(score(table))} |"
        )
        for o in left:
            m = o.mutant
            why = reasons.get((m.line, m.description), "")
            status = "equivalent" if why else o.status.replace("_", " ")
            notes.append(
                f"- `{target.name}` line {m.line}, {m.description} — {status}"
                + (f": {why}" if why else "")
            )
    return "\n".join([*rows, "", *notes])


def _iter_targets(config: Config, names: Sequence[str], group: str | None) -> Iterator[Target]:
    by_name = {t.name: t for t in config.targets}
    if names:
        for name in names:
            if name not in by_name:
                raise SystemExit(f"mutation: no target {name!r} (see {CONFIG.relative_to(ROOT)})")
            yield by_name[name]
        return
    wanted = group or config.default_group
    yield from (t for t in config.targets if wanted in ("all", t.group))


def main(argv: Sequence[str] | None = None) -> int:
    global OUT_DIR
    parser = argparse.ArgumentParser(
        prog="python -m tools.mutation", description="Mutation testing (docs/testing.md)."
    )
    parser.add_argument("--target", action="append", default=[], help="a target name (repeatable)")
    parser.add_argument("--group", help="run every target of this group ('all' for every one)")
    parser.add_argument("--jobs", type=int, default=2, help="children at a time (default 2)")
    parser.add_argument("--timeout-factor", type=float, default=1.5)
    parser.add_argument("--rerun-survivors", action="store_true")
    parser.add_argument(
        "--first",
        action="append",
        default=[],
        metavar="GLOB",
        help="run the tests of these files first and report the score they reach alone",
    )
    parser.add_argument("--mutants", help="only these indices, e.g. 3,17,40-45")
    parser.add_argument("--sample", type=int, help="only a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=20, help="of the sample (default 20)")
    parser.add_argument(
        "--tests",
        action="append",
        default=[],
        metavar="GLOB",
        help="run these tests instead of the target's own (e.g. the tests as they were before)",
    )
    parser.add_argument("--out", type=Path, help="write the results here instead of data/mutation")
    parser.add_argument(
        "--report", action="store_true", help="print the saved results as Markdown tables"
    )
    parser.add_argument("--log-dir", type=Path, help="keep each child's pytest output here")
    parser.add_argument("--list", metavar="TARGET", help="list a target's mutants and exit")
    parser.add_argument("--show", metavar="TARGET:INDEX", help="show one mutant as a diff")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    config = load_config()
    if args.report:
        print(markdown_report(config, args.out or OUT_DIR))
        return 0
    if args.list or args.show:
        name, _, index = (args.list or args.show).partition(":")
        (target,) = _iter_targets(config, [name], None)
        source = target.path.read_text(encoding="utf-8")
        if args.show:
            print(mutant_diff(source, config.message_calls, int(index)))
            return 0
        for m in mutants_of(source, config.message_calls):
            print(f"{m.index:4} {m.line:4}:{m.col:<3} {m.region:6} {m.operator:8} {m.description}")
        return 0
    only_given: set[int] | None = None
    if args.mutants:
        only_given = set()
        for part in args.mutants.split(","):
            low, _, high = part.partition("-")
            only_given.update(range(int(low), int(high or low) + 1))
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    results = []
    if args.out:
        OUT_DIR = args.out.resolve()
    for target in _iter_targets(config, args.target, args.group):
        if args.tests:
            target = replace(target, tests=tuple(args.tests))
        source = target.path.read_text(encoding="utf-8")
        only = only_given
        if args.rerun_survivors:
            only = previous_survivors(target, source)
        if args.sample:
            every = [m.index for m in mutants_of(source, config.message_calls)]
            pool = [i for i in every if only is None or i in only]
            only = set(random.Random(args.seed).sample(pool, min(args.sample, len(pool))))
        result = run_target(
            target,
            config,
            jobs=max(1, args.jobs),
            only=only,
            timeout_factor=args.timeout_factor,
            first=args.first,
            log_dir=args.log_dir,
            progress=lambda line: print(line, flush=True),
        )
        if only is not None:
            merge_with_previous(result)
        print(summary_line(result), flush=True)
        print(f"  → {save(result, source).relative_to(ROOT)}", flush=True)
        results.append(result)
    if len(results) > 1:
        print()
        for result in results:
            print(summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
