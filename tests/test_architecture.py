"""The shape of the package, read from the source with `ast`: imports point inward.

Every import statement counts, wherever it is: at the top of a module, inside a function (a
lazy import delays a dependency, it does not remove it) and under `if TYPE_CHECKING:` (an
annotation that names a Slack or store type still ties the core to it, and the type checker
follows that edge). Only imports by string, `importlib.import_module(name)` (the command table
in bot/cli), are invisible here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot

PACKAGE = Path(bot.__file__).parent

# What the pure domain must not reach, directly or through another bot module: the front
# ends, the database, the models, and the libraries behind them.
FORBIDDEN_IN_CORE = (
    "bot.slack", "bot.cli", "bot.store", "bot.embeddings", "bot.nli", "bot.wiring",
    "slack_sdk", "slack_bolt", "sqlite_utils", "sqlite3", "torch", "sentence_transformers",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "bot.slack.daily"
    target: str  # what it imports, resolved to a module where it is one of ours
    line: int

    def __str__(self) -> str:
        path = self.module.replace(".", "/")
        return f"{self.module} imports {self.target} ({path}.py line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """Every import in the module; `from a import b` is an import of a.b when that is a
    module of ours (a submodule), else of a."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(name, _ours(alias.name, known), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.module, node.level)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in known else base
                found.append(Import(name, target, node.lineno))
    return found


def _absolute(name: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = name.split(".")
    if not is_package:
        parts.pop()  # a module's relative imports start from its package
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def _ours(target: str, known: set[str]) -> str:
    """`import bot.slack.blocks.x` -> the longest prefix that is a module of ours."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return target


def import_graph() -> dict[str, list[Import]]:
    modules = bot_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, list[Import]]) -> list[Import] | None:
    """One import cycle among bot modules, as the imports that close it; None when there is
    none. `from bot.slack import blocks` is an import of bot.slack.blocks, not of the package
    bot.slack, so a package's __init__ that imports its submodules is no cycle; a submodule
    that imports a name from its package's __init__ is one when that __init__ imports it."""
    edges = {m: [i for i in imports if i.target in graph and i.target != m]
             for m, imports in graph.items()}
    done: set[str] = set()
    path: list[Import] = []
    on_path: dict[str, int] = {}

    def visit(module: str) -> list[Import] | None:
        on_path[module] = len(path)
        for edge in edges[module]:
            if edge.target in on_path:
                return path[on_path[edge.target]:] + [edge]
            if edge.target not in done:
                path.append(edge)
                cycle = visit(edge.target)
                if cycle:
                    return cycle
                path.pop()
        del on_path[module]
        done.add(module)
        return None

    for module in sorted(edges):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def forbidden(target: str) -> bool:
    return any(target == f or target.startswith(f + ".") for f in FORBIDDEN_IN_CORE)


def core_violations(graph: dict[str, list[Import]]) -> list[tuple[list[Import], Import]]:
    """(how a core module reaches the bot module that imports it, the forbidden import)."""
    found = []
    for start in sorted(m for m in graph if m == "bot.core" or m.startswith("bot.core.")):
        # Breadth first, so the route reported is a short one.
        routes: dict[str, list[Import]] = {start: []}
        queue = [start]
        while queue:
            module = queue.pop(0)
            for edge in graph[module]:
                if forbidden(edge.target):
                    found.append((routes[module], edge))
                elif edge.target in graph and edge.target not in routes:
                    routes[edge.target] = routes[module] + [edge]
                    queue.append(edge.target)
    # Report each offending import once, by the route from the first core module found.
    unique: dict[Import, list[Import]] = {}
    for route, edge in found:
        unique.setdefault(edge, route)
    return [(route, edge) for edge, route in unique.items()]


# --- the rules ------------------------------------------------------------------------------

def test_no_import_cycle_among_bot_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle:\n  " + "\n  ".join(map(str, cycle))


def test_the_core_reaches_no_front_end_store_or_model():
    found = core_violations(import_graph())
    report = []
    for route, edge in found:
        via = "".join(f"\n      via {step}" for step in route)
        report.append(f"{edge}{via}")
    assert not found, "the core reaches what it must not:\n  " + "\n  ".join(report)


# --- the reader itself, on small made-up packages -------------------------------------------

def _graph_of(tmp_path: Path, files: dict[str, str], monkeypatch) -> dict[str, list[Import]]:
    for relative, source in files.items():
        path = tmp_path / "bot" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "bot")
    return import_graph()


def test_a_cycle_through_a_type_checking_import_is_found(tmp_path, monkeypatch):
    graph = _graph_of(tmp_path, {
        "__init__.py": "",
        "slack/__init__.py": "",
        "slack/daily.py": "from bot.slack.runtime import Runtime\n",
        "slack/runtime.py": ("from typing import TYPE_CHECKING\n"
                             "if TYPE_CHECKING:\n"
                             "    from bot.slack.daily import DailyScheduler\n"),
    }, monkeypatch)
    cycle = find_cycle(graph)
    assert cycle is not None
    assert {i.module for i in cycle} == {"bot.slack.daily", "bot.slack.runtime"}
    assert "bot/slack/runtime.py line 3" in "\n".join(map(str, cycle))


@pytest.mark.parametrize("messages, cycle", [
    ("from bot.slack import blocks\n", False),
    ("from bot.slack.listeners import register\n", True),  # back into the package's __init__
])
def test_a_package_importing_its_submodules_is_a_cycle_only_when_one_imports_it_back(
        tmp_path, monkeypatch, messages, cycle):
    graph = _graph_of(tmp_path, {
        "__init__.py": "",
        "slack/__init__.py": "",
        "slack/blocks.py": "",
        "slack/listeners/__init__.py": "from bot.slack.listeners import actions, messages\n",
        "slack/listeners/actions.py": "from bot.slack.listeners.messages import WARMING_UP\n",
        "slack/listeners/messages.py": messages,
    }, monkeypatch)
    assert (find_cycle(graph) is not None) is cycle


@pytest.mark.parametrize("source, offending", [
    ("import sqlite3\n", "sqlite3"),
    ("def grade():\n    from sentence_transformers import SentenceTransformer\n",
     "sentence_transformers"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.store import Store\n",
     "bot.store"),
    ("from ..slack import blocks\n", "bot.slack.blocks"),
    ("from bot.core import helper\n", "slack_sdk"),  # reached through another core module
])
def test_a_forbidden_import_in_the_core_is_found(tmp_path, monkeypatch, source, offending):
    graph = _graph_of(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/coach.py": source,
        "core/helper.py": "from slack_sdk import WebClient\n" if "helper" in source else "",
        "slack/__init__.py": "",
        "slack/blocks.py": "",
    }, monkeypatch)
    found = core_violations(graph)
    assert [edge.target for _, edge in found] == [offending]
