"""Imports only point down: recipes -> trainers -> data_tools, and trainers' rooms form no circle.

Every module's imports are read with `ast` (those inside functions too: a lazy import is still a
dependency, only a cheaper one), so the rule holds for the code as written, not for what one test
run happens to import. Within trainers/ a room is a sub-package (trainers/models/, trainers/run/, ...)
or a module at the root (trainers/loop.py, trainers/prepare.py, ...); two rooms that import each
other, directly or around a loop, are one concern split in two, and the failure names the files and
the modules that close the loop.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_import_direction.py -q
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recipes", "trainers", "data_tools")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """Every module of this project that `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: resolved against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from trainers import cpu` imports the module trainers.cpu, not just the package
            found += [f"{base}.{a.name}" for a in node.names] if base in PACKAGES else [base]
    return [m for m in found if m.split(".")[0] in PACKAGES]


def _all_imports() -> dict[str, list[tuple[Path, str]]]:
    """package -> (file, imported module) for every project import in that package's code."""
    out: dict[str, list[tuple[Path, str]]] = {p: [] for p in PACKAGES}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[pkg] += [(path, m) for m in _imports(path)]
    return out


def _upward(importer: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p, m in _all_imports()[importer]
            if m.split(".")[0] in forbidden]


def test_the_reader_sees_lazy_and_module_imports():
    """The parser itself: a function-level import and `from pkg import module` both count."""
    imports = dict(_all_imports())
    trainers = {m for _, m in imports["trainers"]}
    assert "trainers.distill.distill_loss" in trainers       # imported inside a function (distill_setup)
    assert "trainers.loop" in trainers and "data_tools.atomic" in trainers
    assert len(imports["recipes"]) > 20 and len(imports["data_tools"]) > 20


def test_data_tools_imports_neither_trainers_nor_recipes():
    assert _upward("data_tools", ("trainers", "recipes")) == []


def test_trainers_never_import_recipes():
    assert _upward("trainers", ("recipes",)) == []


def _room(module: str) -> str | None:
    """trainers.models.model_builder -> trainers.models; trainers.loop -> trainers.loop."""
    parts = module.split(".")
    if parts[0] != "trainers" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def _room_graph() -> dict[str, dict[str, list[str]]]:
    """room -> imported room -> the 'file: module' lines that make that arrow."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path, module in _all_imports()["trainers"]:
        src, dst = _room(_module_name(path)), _room(module)
        graph.setdefault(src, {})
        if dst and dst != src:
            graph[src].setdefault(dst, []).append(f"{path.relative_to(ROOT)}: {module}")
    return graph


def _circles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one room (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_trainers_rooms_form_no_circle():
    graph = _room_graph()
    assert {"trainers.models", "trainers.run", "trainers.compute", "trainers.loop"} <= set(graph)
    report = []
    for comp in _circles(graph):
        report.append(" <-> ".join(comp))
        report += [f"    {a} -> {b}: {why}" for a in comp for b in comp
                   for why in graph[a].get(b, [])]
    assert not report, "rooms of trainers/ that import each other:\n" + "\n".join(report)


def test_a_circle_is_found_when_there_is_one():
    """The detector on a hand-made graph: a -> b -> c -> a is one circle, d hangs below."""
    graph = {"a": {"b": ["x"]}, "b": {"c": ["x"]}, "c": {"a": ["x"], "d": ["x"]}, "d": {}}
    assert _circles(graph) == [["a", "b", "c"]]
