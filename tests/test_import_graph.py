"""Imports run one way (shared/docs/DESIGN.md, "Imports run one way"):

    cli -> app -> adapters -> commands -> features -> engine -> store -> sources -> kernel

Every module of ``bot/`` and ``adapters/`` is read with :mod:`ast` (nothing is imported), and
every import counts: at the top, inside a function, under ``if TYPE_CHECKING:``. The test fails
on any cycle between modules and on any import of a module in a higher layer. Pure rules
(digest time rules, the alert query language and matching, URL rules) sit in the kernel so the
store and the verbs can use them without naming a service.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.shared import once

REPO = Path(__file__).resolve().parent.parent

# Layers, lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel", (
        "bot", "bot.errors", "bot.models", "bot.clock", "bot.text", "bot.zones", "bot.logs",
        "bot.metrics", "bot.render", "bot.publish", "bot.loop", "bot.progress", "bot.config",
        "bot.datahome", "bot.ratelimit", "bot.permissions", "bot.ports", "bot.snowball",
        "bot.ingest.urls", "bot.digests.rules", "bot.alerts.query", "bot.alerts.matching",
        "bot.ingest", "bot.digests", "bot.alerts",  # the packages' __init__: docstrings only
    )),
    ("sources", (  # text in: fetching, parsing, extraction, summarising (no store, no engine)
        "bot.summarize", "bot.newsum", "bot.ingest.fetch", "bot.ingest.feeds",
        "bot.ingest.pages", "bot.ingest.html", "bot.ingest.files", "bot.language",
    )),
    ("store", ("bot.store",)),
    ("engine", ("bot.engine",)),
    ("features", (
        "bot.ingest.intake", "bot.ingest.poller", "bot.ingest.opml", "bot.alerts.service",
        "bot.digests.build", "bot.digests.stories", "bot.digests.scheduler", "bot.monitoring",
        "bot.retention",
        "bot.outbox", "bot.ingest.following", "bot.alerts.subscriptions", "bot.digests.settings",
    )),
    ("commands", ("bot.commands",)),
    ("adapters", ("adapters",)),
    ("app", ("bot.app",)),
    ("cli", ("bot.cli", "bot.__main__")),
)


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    return rank


def project_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in ("bot", "adapters"):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import statement anywhere in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            # `from bot import metrics` names the module bot.metrics; `from bot.x import y`
            # names bot.x (and bot.x.y when that is a module)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name, node.lineno


def graph() -> dict[str, dict[str, int]]:
    """Every module's imports, read once per run (tests/shared.py: ~0.9 s, three tests)."""
    return once("import-graph", _graph)


def _graph() -> dict[str, dict[str, int]]:
    known = project_modules()
    edges: dict[str, dict[str, int]] = {m: {} for m in known}
    for module, path in known.items():
        for target, line in imports_of(module, path, known):
            edges[module].setdefault(target, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in project_modules() if layer_of(m) < 0)
    assert not missing, f"add these modules to LAYERS in {Path(__file__).name}: {missing}"


def test_no_import_cycle_counting_function_and_type_checking_imports() -> None:
    assert cycles(graph()) == []


def test_no_module_imports_a_layer_above_it() -> None:
    known = project_modules()
    upward = []
    for module, targets in sorted(graph().items()):
        for target, line in sorted(targets.items()):
            if layer_of(target) > layer_of(module):
                upward.append(f"{known[module].relative_to(REPO)}:{line} {module} "
                              f"({LAYERS[layer_of(module)][0]}) imports {target} "
                              f"({LAYERS[layer_of(target)][0]})")
    assert upward == []


def test_features_and_verbs_never_see_the_engine() -> None:
    """Each feature and each verb module receives what it uses (repositories, settings, the
    small protocols of :mod:`bot.ports`), wired by ``bot.app``; none imports the engine."""
    names = {name for _, prefixes in LAYERS if _ in ("features", "commands") for name in prefixes}
    seeing = sorted(f"{module} imports bot.engine (line {targets['bot.engine']})"
                    for module, targets in graph().items()
                    if "bot.engine" in targets and layer_of(module) in {
                        layer_of(n) for n in names})
    assert seeing == []


def test_the_checker_sees_hidden_imports(tmp_path: Path) -> None:
    """The walk finds imports inside functions and under TYPE_CHECKING, and finds a cycle."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bot.engine import BriefingEngine\n"
        "def f():\n    from bot import app\n    import bot.cli\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    known = {"bot": path, "bot.engine": path, "bot.app": path, "bot.cli": path,
             "bot.probe": path}
    assert {m for m, _ in imports_of("bot.probe", path, known)} == {
        "bot", "bot.engine", "bot.app", "bot.cli"}
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [
        ["a", "b", "c"]]
