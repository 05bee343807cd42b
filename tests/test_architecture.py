"""The house's structure, checked from the source: the import graph, where SQL and ORM rows
may appear, and what the pure core may touch."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "monitor"
# Faces: nothing below them may import them.
FACES = ("monitor.api", "monitor.cli", "monitor.pages", "monitor.demo")
# The pure core: values in, values out. No database, network, model, scheduler or clock.
PURE_MODULES = (
    "monitor.values",
    "monitor.limits",
    "monitor.headers",
    "monitor.normalize",
    "monitor.charset",
    "monitor.parse",
    "monitor.discover",
    "monitor.relevance",
    "monitor.stories",
    "monitor.events",
    "monitor.story_evidence",
    "monitor.schedule",
    "monitor.health",
    "monitor.filters",
    "monitor.calibrate",
    "monitor.alerts.planning",
    "monitor.alerts.payloads",
    "monitor.alerts.retry",
)
IO_MODULES = (
    "sqlalchemy",
    "httpx",
    "httpcore",
    "socket",
    "smtplib",
    "urllib.request",
    "fastapi",
    "starlette",
    "uvicorn",
    "apscheduler",
    "pebble",
    "py3langid",
    "sentence_transformers",
    "torch",
    "monitor.storage",
    "monitor.fetch",
    "monitor.netguard",
    "monitor.embed",
    "monitor.runtime",
    "monitor.service",
)
SQL_NAMES = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "exists"}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or module.name for `from m import name`)
    names: tuple[str, ...]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        yield path


def imports_of(path: Path) -> Iterator[Import]:
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(source, target, tuple(a.name for a in node.names))


ALL_IMPORTS = [imp for path in source_files() for imp in imports_of(path)]


def is_within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def unit_of(module: str) -> str:
    """The unit of the package graph: a sub-package, or a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; returns the components with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


class TestImportGraph:
    def test_no_cycle_between_packages(self) -> None:
        """Sub-packages and top-level modules of monitor import each other without a cycle."""
        graph: dict[str, set[str]] = {}
        for imp in ALL_IMPORTS:
            if not is_within(imp.target, "monitor"):
                continue
            source, target = unit_of(imp.source), unit_of(imp.target)
            if source != target and target != "monitor":
                graph.setdefault(source, set()).add(target)
        assert strongly_connected(graph) == []

    def test_monitor_never_imports_workers(self) -> None:
        """The library knows nothing of the thin jobs in workers/."""
        offenders = [i.source for i in ALL_IMPORTS if is_within(i.target, "workers")]
        assert offenders == []

    def test_no_edge_reaches_back_into_a_face(self) -> None:
        """Only faces import faces: the API, the pages and the CLI sit on top."""
        offenders = [
            f"{i.source} → {i.target}"
            for i in ALL_IMPORTS
            if any(is_within(i.target, face) for face in FACES)
            and not any(is_within(i.source, face) for face in FACES)
            and i.source != "monitor.__main__"  # `python -m monitor` is the CLI
        ]
        assert offenders == []

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_core_imports_no_io(self, module: str) -> None:
        """A pure stage imports no database, network, model or scheduler module."""
        offenders = [
            i.target
            for i in ALL_IMPORTS
            if i.source == module and any(is_within(i.target, io) for io in IO_MODULES)
        ]
        assert offenders == []

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_pure_core_reads_no_clock(self, module: str) -> None:
        """A pure stage takes `now` as a parameter instead of reading the clock."""
        path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
        if not path.exists():
            pytest.skip(f"{module} does not exist")
        calls = [
            ast.unparse(node.func)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith(
                ("datetime.now", "datetime.utcnow", "time.time", "date.today", "utc_now")
            )
        ]
        assert calls == []


class TestStorageBoundary:
    def test_no_sql_outside_storage(self) -> None:
        """Only monitor/storage builds SQL: elsewhere sqlalchemy gives at most Session types."""
        offenders = [
            f"{i.source}: {i.target} {', '.join(i.names)}"
            for i in ALL_IMPORTS
            if is_within(i.target, "sqlalchemy")
            and not is_within(i.source, "monitor.storage")
            and not is_within(i.source, "monitor.migrations")
            and (i.target not in ("sqlalchemy.orm", "sqlalchemy") or set(i.names) & SQL_NAMES)
        ]
        assert offenders == []

    def test_no_orm_row_outside_storage(self) -> None:
        """The ORM classes of storage/schema.py are never imported outside storage."""
        offenders = [
            i.source
            for i in ALL_IMPORTS
            if is_within(i.target, "monitor.storage.schema")
            and not is_within(i.source, "monitor.storage")
            and not is_within(i.source, "monitor.migrations")
        ]
        assert offenders == []

    def test_no_session_query_outside_storage(self) -> None:
        """No module outside storage calls session.execute/scalars/query/add/get."""
        methods = {"execute", "scalars", "scalar", "query", "add", "add_all", "get", "merge"}
        offenders = []
        for path in source_files():
            name = module_name(path)
            if is_within(name, "monitor.storage") or is_within(name, "monitor.migrations"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in methods
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "session"
                ):
                    offenders.append(f"{name}:{node.lineno} session.{node.func.attr}")
        assert offenders == []
