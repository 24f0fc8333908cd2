"""The layers of docs/ARCHITECTURE.md, enforced: a module imports only from its own layer or below,
and no two packages import each other, directly or round a ring.

Read from the source with `ast` (imports inside functions count). A package's `router.py` is its
HTTP edge and stands with the edges: it may take from any package below, and no package takes
anything from another's router (only the app factory assembles them)."""

import ast
import re
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

LAYERS = {
    "foundation": {"db", "config", "errors", "logs", "paging", "importing", "text", "lease", "i18n", "times",
                   "throttle", "groups", "channels", "phones", "pages", "bulk", "ids"},
    "tables": {"models"},
    "registry": {"region", "contact", "auth", "policy", "audit", "duty", "department"},
    "engine": {"warning", "call", "notify", "ack", "hazard", "broadcast"},
    "edges": {"cap", "report", "web", "cli", "demo", "main", "scheduler", "worker", "ops", "wiring"},
}  # fmt: skip
RANK = {package: rank for rank, packages in enumerate(LAYERS.values()) for package in packages}
# Inside the registry and the engine, bottom first: each package imports only those before it.
ORDER = {
    "registry": ["audit", "region", "auth", "department", "contact", "policy", "duty"],
    "engine": ["call", "notify", "broadcast", "hazard", "ack", "warning"],
}


def is_router(module: str) -> bool:
    """A package's HTTP routes: its `router.py`, or a `*_router.py` beside it (notify.aliyun_router)."""
    return module.endswith(".router") or module.endswith("_router")


def rank(node: str) -> int:
    """A package's layer; a package's routers (`call.router`) stand with the edges."""
    return RANK["main"] if is_router(node) else RANK[node]


def imports(*, modules: bool = False) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> where, for every import between packages of app, a
    package's router counting as a package of its own (`call.router`); with `modules`, (importing
    module, imported module) as dotted paths below app."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP).with_suffix("").parts
        source = ".".join(parts) if modules or is_router(".".join(parts)) else parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: a relative import; write app.…"
            if isinstance(node, ast.ImportFrom) and node.module:
                # `from app import i18n` names a package; `from app.notify import router`, a router.
                names = [
                    f"{node.module}.{a.name}"
                    if node.module == "app" or is_router(f"{node.module}.{a.name}")
                    else node.module
                    for a in node.names
                ]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if not name.startswith("app."):
                    continue
                dotted = name.removeprefix("app.")
                target = dotted if modules or is_router(dotted) else dotted.split(".")[0]
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
        if is_router(target) and source.split(".")[0] != target.split(".")[0] and source != "main"
        for where in places
    }
    assert sorted(taken) == []


def test_imports_run_down_the_layers_and_round_no_ring() -> None:
    found = imports()
    upward = {edge: found[edge] for edge in sorted(found) if rank(edge[0]) < rank(edge[1])}
    assert upward == {}, "imports that run upward (see docs/ARCHITECTURE.md)"
    ringed = {edge: found[edge] for edge in sorted(rings(set(found)))}
    assert ringed == {}, "packages that import each other, directly or round a ring: move the rule, not the import"


def test_only_db_modules_ask_which_database() -> None:
    """SQL that only one database speaks sits in the foundation's database modules (app/db.py,
    app/bulk.py) and in each package's db.py, named for what it does (STYLE.md, as GoAlert keeps
    its db.go): no service branches on the dialect."""
    asking = re.compile(r"dialect\.name|\.is_sqlite\b|sqlalchemy\.dialects import postgresql")
    found = [
        f"{path.relative_to(APP.parent)}:{number}"
        for path in sorted(APP.rglob("*.py"))
        if path.name != "db.py" and path != APP / "bulk.py" and path.parent.name != "models"  # column types vary
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if asking.search(line)
    ]
    assert found == []


def test_inside_a_layer_packages_import_only_those_below() -> None:
    assert all(sorted(packages) == sorted(LAYERS[layer]) for layer, packages in ORDER.items())
    place = {package: index for packages in ORDER.values() for index, package in enumerate(packages)}
    found = imports()
    above = {
        edge: found[edge]
        for edge in sorted(found)
        if edge[0] in place and edge[1] in place and rank(edge[0]) == rank(edge[1]) and place[edge[1]] > place[edge[0]]
    }
    assert above == {}, "imports of a package drawn above (ORDER, docs/ARCHITECTURE.md)"
