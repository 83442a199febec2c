"""The import rules of DESIGN.md, enforced on the source tree.

Each package of ``warden`` may import only the packages listed for it; adapters never import
each other; the core imports no I/O, clock or logging module and never reads the clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "warden"

# package -> warden packages it may import (itself always allowed; errors is shared by all)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "protocol": {"core"},
    "sources": {"core"},
    "store": {"core"},
    "backends": {"core"},
    "fleet": {"core"},
    "daemon": {"core", "config", "protocol", "sources", "store", "backends", "fleet"},
    # cli reads logs offline (warden regex systemd-journal) with the daemon's own sources
    "cli": {"core", "config", "protocol", "sources"},
}
SHARED = {"errors", "__init__"}

# modules the pure core must not import: I/O, processes, clocks of the OS, logging, threads
CORE_FORBIDDEN = {
    "os", "sys", "io", "socket", "subprocess", "select", "selectors", "asyncio", "threading",
    "multiprocessing", "logging", "pathlib", "shutil", "tempfile", "sqlite3", "signal", "glob",
}
CLOCK_CALLS = {("time", "time"), ("time", "monotonic"), ("time", "time_ns"),
               ("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = _package_of(path)
    tree = ast.parse(path.read_text(), str(path))
    for name in _imports(tree):
        parts = name.split(".")
        if parts[0] != "warden" or len(parts) == 1:
            continue
        target = parts[1]
        if package not in ALLOWED or target == package or target in SHARED:
            continue
        assert target in ALLOWED[package], f"{path}: {package} must not import warden.{target}"


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _package_of(p) == "core"],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_core_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for name in _imports(tree):
        assert name.split(".")[0] not in CORE_FORBIDDEN, f"{path}: core imports {name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                assert (owner.id, node.func.attr) not in CLOCK_CALLS, (
                    f"{path}:{node.lineno}: core reads the clock ({owner.id}.{node.func.attr})"
                )


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a core module importing os is caught.
    bad = ast.parse("import os\nfrom warden.config import x\n")
    assert "os" in _imports(bad)
    assert "warden.config" in _imports(bad)


def _daemon_graph() -> dict[str, set[str]]:
    """Which ``warden.daemon`` modules each one imports, type-checking imports included
    (a cycle hidden behind ``TYPE_CHECKING`` is still two modules that need each other)."""
    daemon = SRC / "daemon"
    names = {p.stem for p in daemon.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in daemon.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        graph[path.stem] = {parts[2] for name in _imports(tree)
                            if len(parts := name.split(".")) > 2
                            and parts[:2] == ["warden", "daemon"] and parts[2] in names}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as the chain of modules), or None."""
    done: set[str] = set()

    def visit(node: str, chain: list[str]) -> list[str] | None:
        if node in chain:
            return [*chain[chain.index(node):], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*chain, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_among_daemon_modules() -> None:
    # the request handler sees the daemon through warden.daemon.handler's protocols
    cycle = _cycle(_daemon_graph())
    assert cycle is None, "daemon modules import each other: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"app": {"service"}, "service": {"runtime", "app"}, "runtime": set()}) == [
        "app", "service", "app"]
    assert _cycle({"app": {"service"}, "service": {"runtime"}, "runtime": set()}) is None
