"""The package's layering: no module imports a higher layer, and there is no import cycle at all.

Every import counts, at module level or inside a function (a function-level import that closes a cycle is
still a cycle). A layer is a subpackage of landscape/ (the commands are the modules at the top level);
layers, low to high: what a module may import is its own layer and the ones below.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "landscape"

LAYERS = [  # (name, first path component under landscape/)
    ("core", {"__init__", "core"}),  # errors, numerics, specs, crn, rowwise, normalizer; landscape.__version__
    ("model", {"model"}),  # policy, flat, agent: networks only, no environment
    ("sim", {"sim"}),  # envs, physics, vecenv, toys (the toys' exact oracles take an Agent)
    ("io", {"io"}),  # checkpoint formats and imports
    ("rl", {"rl"}),  # PPO, collector, trainer, evaluator, PGD, input gradients
    ("robust", {"robust"}),  # ARPO / BARPO
    ("attacks", {"attacks"}),
    ("exec", {"exec"}),  # the local / Ray executor (scanning runs on it)
    ("probes", {"probes"}),  # directions, gradients, metrics, curvature, store, scanning
    ("stationary", {"stationary"}),
    ("viz", {"viz"}),
    (
        "commands",
        {"fosp", "sticky", "figures", "compare", "scan", "evaluate", "train", "sweep", "cli", "cli_args", "__main__"},
    ),
]


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.with_suffix("").relative_to(ROOT).parts
        out[".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)] = p
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the landscape modules it imports (relative or absolute, any depth in the file)."""
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    base = ".".join([*base, *([node.module] if node.module else [])])
                elif (node.module or "").startswith("landscape"):
                    base = node.module.removeprefix("landscape").lstrip(".")
                else:
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else alias.name
                    found.add(sub if sub in mods else base)
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("landscape.") for a in node.names if a.name.startswith("landscape.")}
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def layer(module: str) -> int:
    head = module.split(".")[0] or "__init__"
    return next(i for i, (_, members) in enumerate(LAYERS) if head in members or module in members)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if not any((m.split(".")[0] or "__init__") in s or m in s for _, s in LAYERS)]
    assert not unplaced, f"add these modules to a layer in tests/test_layering.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    graph = imports(modules())
    upward = [
        f"{m} ({LAYERS[layer(m)][0]}) -> {t} ({LAYERS[layer(t)][0]})"
        for m, targets in graph.items()
        for t in targets
        if layer(t) > layer(m)
    ]
    assert not upward, "imports of a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    found = cycles(imports(modules()))
    assert not found, f"import cycles: {[sorted(c) for c in found]}"


def test_the_checker_sees_cycles_and_upward_imports():
    """The graph code itself: a hand-made cycle and an upward edge are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]
    real = imports(modules())
    assert "io.file_checks" in real["io.lineage"] and "core.numerics" in real["rl.ppo"]  # relative imports resolved
    assert (
        "core.errors" in real["io.checkpoint"] and "io.checkpoint" in real["evaluate"]
    )  # `from .io import checkpoint`
    assert (
        layer("scan")
        > layer("probes.scanning")
        > layer("attacks.base")
        > layer("rl.ppo")
        > layer("model.agent")
        > layer("core.errors")
    )
