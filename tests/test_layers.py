"""The package's layers point one way, and its modules import one another in no circle.

Every ``import`` and ``from ... import`` of every module is read with ``ast``, wherever it
stands: at the top, or deferred inside a function (a deferred import is still a dependency,
only a later one). ``if TYPE_CHECKING:`` blocks are left out: they never run.

The layers, lowest first; a module may import its own unit and any lower layer, never a
higher one nor another unit of its own layer:

    errors, logsafe                     what every layer raises and logs with
    oneroster                           the protocol: pure, no Flask, peewee or rq
    models, settings, signals, schema   the tables, the settings, the signals
    sync                                the sync's own steps
    services, demo, schedule            the rules the app applies (they may call sync)
    web, jobs                           pages and JSON, RQ jobs
    cli, cron, api                      the command line (it starts jobs and the demo), the
                                        schedule ``rq cron`` reads, the host app's Python API
                                        (services, and the pages' CSRF token)
    extension                           ALRoster(app): registers web and cli on an app
    al_roster                           the package's own __init__
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "al_roster"
LAYERS = [
    {"errors", "logsafe"},
    {"oneroster"},
    {"models", "settings", "signals", "schema"},
    {"sync"},
    {"services", "demo", "schedule"},
    {"web", "jobs"},
    {"cli", "cron", "api"},
    {"extension"},
    {""},  # al_roster/__init__.py
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = ["al_roster", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runs(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runs(child)])
            continue
        yield node
        yield from _runs(node)


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports, at the top or inside functions."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runs(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            named = {f"{base}.{a.name}" for a in node.names}
            modules = named & MODULES.keys()  # `from pkg import module` imports the module
            found.update(modules)
            if any(n.rpartition(".")[2] in defined_in(base) for n in named - modules):
                found.add(base)
    return {m for m in found if m in MODULES and m != module}


def defined_in(module: str) -> set[str]:
    """The names ``module`` defines or imports at its top (what ``from module import x``
    can take from it without importing a submodule); nothing for a module not in the
    package (an import that would fail is not a dependency)."""
    if module not in MODULES:
        return set()
    names: set[str] = set()
    for node in ast.parse(MODULES[module].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_unit_has_a_layer():
    assert {unit_of(m) for m in MODULES} - set(RANK) == set()


def test_layers_point_one_way():
    wrong = sorted(
        f"{module} imports {target}" for module, targets in GRAPH.items() for target in targets
        if unit_of(target) != unit_of(module)
        and RANK[unit_of(target)] >= RANK[unit_of(module)])
    assert wrong == []


def test_sync_never_imports_services():
    assert sorted(f"{m} imports {t}" for m, ts in GRAPH.items() for t in ts
                  if unit_of(m) == "sync" and unit_of(t) == "services") == []


def test_the_import_graph_has_no_cycle():
    assert find_cycle(GRAPH) is None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as the list of its modules, or None."""
    edges = graph
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
