"""The layers of docs/ARCHITECTURE.md, enforced: a module imports only from its own layer or below,
and no two packages import each other, directly or round a ring.

Read from the source with `ast` (imports inside functions count). `DEBTS` lists the pairs of
packages whose imports break a rule today, each to be taken away as issue 29 untangles the core:
the test fails on a pair that breaks a rule and is not listed, and on a listed pair that no longer
does, so the list only shrinks. And no package takes anything from another's router."""

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

LAYERS = {
    "foundation": {"db", "config", "errors", "logs", "paging", "importing", "text", "lease", "i18n", "times",
                   "throttle", "groups", "channels"},
    "registry": {"region", "contact", "auth", "policy", "audit", "duty", "department"},
    "engine": {"warning", "call", "notify", "ack", "hazard", "broadcast"},
    "edges": {"cap", "report", "web", "cli", "demo", "main", "scheduler", "worker", "models", "ops", "wiring"},
}  # fmt: skip
RANK = {package: rank for rank, packages in enumerate(LAYERS.values()) for package in packages}

# Imports round a ring today, importer -> the packages it imports in the same ring: audit, auth,
# region, contact and department in the registry; ack, broadcast, call, hazard, notify and warning
# in the engine. None runs upward any more.
_DEBTS = {
    "ack": "broadcast call warning",
    "audit": "auth contact region",
    "auth": "audit region",
    "broadcast": "notify warning",
    "call": "ack notify warning",
    "contact": "audit auth department region",
    "department": "audit auth region",
    "hazard": "ack call notify warning",
    "notify": "ack call hazard warning",
    "region": "audit auth",
    "warning": "ack broadcast call notify",
}
DEBTS = {(source, target) for source, targets in _DEBTS.items() for target in targets.split()}


def imports(*, modules: bool = False) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> where, for every import between packages of app;
    with `modules`, (importing module, imported module) as dotted paths below app."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP).with_suffix("").parts
        source = ".".join(parts) if modules else parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"app.{a.name}" for a in node.names] if node.module == "app" else [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if not name.startswith("app."):
                    continue
                target = name.removeprefix("app.") if modules else name.split(".")[1]
                if target != source:
                    found[(source, target)].append(f"{path.relative_to(APP.parent)}:{node.lineno}")
    return found


def rings(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges between packages of one strongly connected component (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    component: dict[str, int] = {}

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt not in component:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            while True:
                member = stack.pop()
                component[member] = index[node]
                if member == node:
                    break

    for node in sorted({n for edge in edges for n in edge}):
        if node not in index:
            visit(node)
    return {(s, t) for s, t in edges if component[s] == component[t]}


def test_every_package_has_a_layer() -> None:
    packages = {path.relative_to(APP).with_suffix("").parts[0] for path in APP.rglob("*.py")} - {"__init__"}
    assert packages - set(RANK) == set(), "add it to a layer in LAYERS (and to docs/ARCHITECTURE.md)"


def test_no_package_takes_anything_from_anothers_router() -> None:
    """A router only routes: what others need of it lives in its package's service, dependencies
    or page module; only the app factory assembles routers."""
    taken = {
        where
        for (source, target), places in imports(modules=True).items()
        if target.endswith(".router") and source.split(".")[0] != target.split(".")[0] and source != "main"
        for where in places
    }
    assert sorted(taken) == []


def test_imports_run_down_the_layers_and_round_no_ring() -> None:
    found = imports()
    upward = {edge for edge in found if RANK[edge[0]] < RANK[edge[1]]}
    broken = upward | rings(set(found))
    new = {edge: found[edge] for edge in sorted(broken - DEBTS)}
    assert new == {}, "imports that run upward or round a ring (see docs/ARCHITECTURE.md)"
    assert sorted(DEBTS - broken) == [], "paid off: take these out of DEBTS"
