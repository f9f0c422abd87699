"""The package imports only downward, and no import cycle exists.

Every module under ``nnlab/`` is parsed with :mod:`ast`; every import (module level and inside
functions alike) is mapped to the layer of the module it names. A module may import from its own
layer or a lower one, never from a higher one; same-layer packages may import each other only
without a cycle. The layer order below is the one the README's "Layout" section describes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "nnlab"

# Bottom → top. A module belongs to the layer of the longest listed name that is its own name or a
# package above it; ``nnlab`` alone is the package __init__ (version only).
LAYERS: list[list[str]] = [
    ["nnlab", "nnlab.errors", "nnlab.registry", "nnlab.device", "nnlab.distributed", "nnlab.launch", "nnlab.runtime"],
    ["nnlab.artifacts", "nnlab.report"],
    ["nnlab.data", "nnlab.ops"],
    ["nnlab.models"],
    ["nnlab.training"],
    [
        "nnlab.analysis",
        "nnlab.detection",
        "nnlab.robustness",
        "nnlab.compression",
        "nnlab.embedding",
        "nnlab.inspection",
    ],
    ["nnlab.studies"],
    ["nnlab.cli", "nnlab.__main__"],
]


def layer_of(module: str, layers: list[list[str]] = LAYERS) -> tuple[int, str]:
    """``(layer index, unit)`` of a dotted module name; the unit is the listed name it falls under."""
    best: tuple[int, str] | None = None
    for index, names in enumerate(layers):
        for name in names:
            inside = module == name or ("." in name and module.startswith(name + "."))  # "nnlab" is the __init__ only
            if inside and (best is None or len(name) > len(best[1])):
                best = (index, name)
    if best is None:
        raise AssertionError(f"module {module} is in no layer; add it to LAYERS in tests/test_layers.py")
    return best


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted name of a source file under ``root`` (a package's __init__ is the package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every nnlab module that ``source`` imports, at any depth of the syntax tree.

    ``from a.b import c`` names module ``a.b.c`` when that is a module of the package, else ``a.b``.
    """
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "nnlab")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "nnlab":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the nnlab modules it imports, for every source file under ``root``."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    return {m: imports_of(p.read_text(), m, p.name == "__init__.py", known) for m, p in files.items()}


def upward_imports(graph: dict[str, set[str]], layers: list[list[str]] = LAYERS) -> list[str]:
    """One line per import of a module from a higher layer than the importer's."""
    problems = []
    for module, targets in sorted(graph.items()):
        mine, _ = layer_of(module, layers)
        for target in sorted(targets):
            theirs, unit = layer_of(target, layers)
            if theirs > mine:
                problems.append(f"{module} (layer {mine}) imports {target} (layer {theirs}, {unit})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unit_graph(graph: dict[str, set[str]], layers: list[list[str]] = LAYERS) -> dict[str, set[str]]:
    """The module graph collapsed onto layer units (``nnlab.detection``, ``nnlab.models``, …)."""
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = layer_of(module, layers)[1]
        deps = units.setdefault(mine, set())
        deps.update(t for t in (layer_of(t, layers)[1] for t in targets) if t != mine)
    return units


# --- the real tree -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_module_imports_from_a_higher_layer(graph):
    problems = upward_imports(graph)
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_no_import_cycle_between_modules(graph):
    assert cycles(graph) == []


def test_no_import_cycle_between_packages(graph):
    assert cycles(unit_graph(graph)) == []


def test_package_init_holds_the_version_only(graph):
    assert graph["nnlab"] == set()


# --- the checker bites ---------------------------------------------------------------------------


def test_checker_flags_an_upward_import_at_any_depth(tmp_path):
    pkg = tmp_path / "nnlab"
    (pkg / "models").mkdir(parents=True)
    (pkg / "training").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "training" / "__init__.py").write_text("from nnlab.models import net\n")
    (pkg / "training" / "engine.py").write_text("")
    (pkg / "models" / "net.py").write_text("def f():\n    from nnlab.training.engine import g\n")
    graph = import_graph(pkg)
    assert graph["nnlab.models.net"] == {"nnlab.training.engine"}
    assert graph["nnlab.training"] == {"nnlab.models.net"}
    assert upward_imports(graph) == [
        "nnlab.models.net (layer 3) imports nnlab.training.engine (layer 4, nnlab.training)"
    ]


def test_checker_resolves_relative_imports(tmp_path):
    pkg = tmp_path / "nnlab"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from .api import x\nfrom . import loader\n")
    (pkg / "data" / "api.py").write_text("from ..cli import main\n")
    (pkg / "data" / "loader.py").write_text("")
    graph = import_graph(pkg)
    assert graph["nnlab.data"] == {"nnlab.data.api", "nnlab.data.loader"}
    assert upward_imports(graph) == ["nnlab.data.api (layer 2) imports nnlab.cli (layer 7, nnlab.cli)"]


def test_checker_finds_cycles_between_modules_and_between_packages():
    graph = {
        "nnlab.models.spec": {"nnlab.models.surgery"},
        "nnlab.models.surgery": {"nnlab.models.spec"},
        "nnlab.detection.roi": {"nnlab.robustness.knn"},
        "nnlab.robustness.knn": {"nnlab.detection.metrics"},
        "nnlab.detection.metrics": set(),
    }
    assert cycles(graph) == [["nnlab.models.spec", "nnlab.models.surgery"]]
    assert upward_imports(graph) == []  # same layer: allowed as such …
    assert cycles(unit_graph(graph)) == [["nnlab.detection", "nnlab.robustness"]]  # … but not in a cycle


def test_checker_rejects_a_module_outside_every_layer():
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("nnlab.mystery")
