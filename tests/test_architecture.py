"""The layering, read from the source: every import of every module (those inside functions too)
parsed with ``ast``, so that a cycle between packages or a reach into a neighbour's private names
fails here, not in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import practica

ROOT = Path(practica.__file__).parent

# A cycle counts imports that run; type-only ones (``if TYPE_CHECKING:``) name records in annotations
# and load nothing, so a low layer (tasks) may annotate with a higher one's records (evaluation).
ALLOWED_EDGES: set[tuple[str, str]] = set()
PRIVATE_IMPORTS_ALLOWED: set[str] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
            for p in sorted(ROOT.rglob("*.py"))}


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:``: names for annotations, never run."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports(
    name: str, tree: ast.Module, is_package: bool, *, run_time: bool = False,
) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in the module, at any depth; with
    ``run_time``, those that run (not the type-only ones under ``if TYPE_CHECKING:``)."""
    found = []
    skipped = _type_only(tree) if run_time else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found += [(target, alias.name, node.lineno) for alias in node.names]
    return found


def unit(module: str) -> str | None:
    """The top-level part of practica a module belongs to: ``practica.data.splits.split`` → ``practica.data``;
    a top-level module such as ``practica.errors`` is a unit of its own. None outside practica."""
    parts = module.split(".")
    if parts[0] != "practica" or len(parts) == 1:
        return None
    return ".".join(parts[:2])


def test_every_module_parses_and_is_seen():
    found = modules()
    assert "practica.data" in found and "practica.errors" in found and len(found) > 100


def test_no_import_cycle_between_top_level_packages():
    trees = modules()
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for name, tree in trees.items():
        source = unit(name)
        if source is None:
            continue
        is_package = (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()
        for target, imported, line in imports(name, tree, is_package, run_time=True):
            # ``from practica import data`` imports the package practica.data
            full = f"{target}.{imported}" if target == "practica" and imported else target
            dest = unit(full)
            if dest is None or dest == source or (source, dest) in ALLOWED_EDGES:
                continue
            graph.setdefault(source, set()).add(dest)
            where.setdefault((source, dest), f"{name}:{line}")
    cycles = [component for component in strongly_connected(graph) if len(component) > 1]
    explained = []
    for component in cycles:
        edges = sorted(f"{a} → {b} ({where[a, b]})" for a in component for b in graph.get(a, ()) if b in component)
        explained.append("; ".join(edges))
    assert not cycles, "import cycles between packages:\n" + "\n".join(explained)


def test_no_private_name_is_imported_from_another_module():
    trees = modules()
    found = []
    for name, tree in trees.items():
        if name in PRIVATE_IMPORTS_ALLOWED:
            continue
        is_package = (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()
        for target, imported, line in imports(name, tree, is_package):
            if unit(target) is None and target != "practica":
                continue
            private = [part for part in [*target.split("."), imported or ""]
                       if part.startswith("_") and not part.startswith("__")]
            if private and target != name:
                found.append(f"{name}:{line} imports {imported or target} from {target}")
    assert not found, "private names imported across modules (make them public or move them):\n" + "\n".join(found)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the graph's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

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
            components.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return components


def test_the_checks_catch_what_they_look_for():
    cycles = [c for c in strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) if len(c) > 1]
    assert cycles == [{"a", "b", "c"}]
    tree = ast.parse("def f():\n    from practica.data import _hidden\n")
    assert imports("practica.models.x", tree, False) == [("practica.data", "_hidden", 2)]
    assert imports("practica.models.x", ast.parse("from .zoo import net"), False) == [("practica.models.zoo", "net", 1)]
    assert imports("practica.models", ast.parse("from .zoo import net"), True) == [("practica.models.zoo", "net", 1)]
    assert unit("practica.data.splits.split") == "practica.data" and unit("practica.errors") == "practica.errors"
    assert unit("numpy.linalg") is None
