"""The layers hold: every module's imports (read with ast, function-level imports included) point down.

    readers      -> nothing else of lfgate (the format readers stand alone)
    validator    -> not tools, commands or reporters (the checker is below the commands around it)
    suppressions -> not tools, commands or reporters
    runner       -> not commands (the commands drive the runner, never the reverse)

and no module reaches itself through its imports (no cycles, lazy ones included).
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "lfgate"

# (module prefix, packages it must not import, except its own)
FORBIDDEN = [
    ("lfgate.readers", "lfgate."),
    ("lfgate.validator", ("lfgate.tools", "lfgate.commands", "lfgate.reporters")),
    ("lfgate.suppressions", ("lfgate.tools", "lfgate.commands", "lfgate.reporters")),
    ("lfgate.runner", ("lfgate.commands",)),
]


def module_name(path: pathlib.Path) -> str:
    return module_name_in(PACKAGE, path)


def imports(path: pathlib.Path) -> list:
    """(line, imported module) for every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from lfgate import tools` imports the package lfgate.tools
            found += [(node.lineno, f"{base}.{alias.name}" if base == "lfgate" else base) for alias in node.names]
    return found


def violations(path: pathlib.Path) -> list:
    name = module_name(path)
    out = []
    for prefix, banned in FORBIDDEN:
        if name != prefix and not name.startswith(prefix + "."):
            continue
        banned = (banned,) if isinstance(banned, str) else banned
        for line, target in imports(path):
            if target == prefix or target.startswith(prefix + "."):
                continue  # inside its own package
            if any(target == b.rstrip(".") or target.startswith(b.rstrip(".") + ".") for b in banned):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {target}")
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path):
    assert not violations(path)


@pytest.mark.parametrize("module, source", [
    ("validator/samples/infer.py", "from lfgate.tools.infer import infer\n"),
    ("runner/launch.py", "def main():\n    from lfgate.commands.common import split_overrides\n"),
    ("suppressions.py", "from lfgate.reporters.json_format import write_json\n"),
    ("readers/jsonfile.py", "from lfgate.validator import model\n"),
    ("validator/engine.py", "from lfgate import commands\n"),
    ("readers/records.py", "from .. import registry\n"),
])
def test_the_old_wrong_imports_are_caught(tmp_path, module, source, monkeypatch):
    """Put an old import back (in a copy of the tree): the layer check names it."""
    import shutil

    copy = tmp_path / "lfgate"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + source, encoding="utf-8")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", copy)
    assert violations(target)


def import_graph(package: pathlib.Path) -> dict:
    """module -> the lfgate modules it imports, at the top or inside a function (TYPE_CHECKING ones too).
    `from pkg import name` is an edge to the module pkg.name when there is one, else to pkg (its __init__). A
    module's own parent package is not an edge: Python imports it first for every module, so it closes no cycle."""
    paths = sorted(package.rglob("*.py"))
    names = {module_name_in(package, path) for path in paths}
    graph = {}
    for path in paths:
        name = module_name_in(package, path)
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(_known(alias.name, names) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own.split(".")[: len(own.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets.update(_known(f"{base}.{alias.name}", names) or _known(base, names) for alias in node.names)
        graph[name] = targets - {None, name}
    return graph


def module_name_in(package: pathlib.Path, path: pathlib.Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _known(dotted: str, names: set):
    """The longest prefix of a dotted name that is one of the package's modules (None: not lfgate's)."""
    parts = dotted.split(".")
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in names), None)


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module, each sorted."""
    reach = {}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for target in graph[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        reach[start] = seen
    components = {frozenset([m] + [o for o in reach[m] if m in reach[o]]) for m in graph if m in reach[m]}
    return sorted(sorted(c) for c in components)


def test_no_import_cycles():
    """Issue 26: lazy imports and private re-exports held two cycles together (the training package with the TY
    modules beside it); a module that must be imported late to load at all is in the wrong place."""
    assert cycles(import_graph(PACKAGE)) == []


@pytest.mark.parametrize("module, source", [
    ("validator/training/futile_values.py", "from lfgate.validator.training import TrainingConfig\n"),
    ("lf_facts.py", "def f():\n    from lfgate.validator import engine\n"),
    ("validator/samples/common.py", "from lfgate.validator.samples.checker import SampleChecker\n"),
])
def test_a_cycle_is_caught(tmp_path, module, source):
    """Put an old cycle back (in a copy of the tree), at the top or inside a function: the cycle check names it."""
    import shutil

    copy = tmp_path / "lfgate"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + source, encoding="utf-8")
    found = cycles(import_graph(copy))
    assert any(module_name_in(copy, target) in component for component in found)


def test_the_runner_reads_a_config_through_the_checkers_one_model():
    """One model of a training YAML (issue 14): the runner's RunConfig is the checker's TrainingConfig, so `get`
    means the same everywhere: the YAML's value (an explicit null included), else LLaMA-Factory's default."""
    from lfgate.runner.config import RunConfig
    from lfgate.validator.training import TrainingConfig

    assert issubclass(RunConfig, TrainingConfig) and RunConfig.get is TrainingConfig.get
    config = RunConfig("t.yaml", {"eval_dataset": None, "lora_rank": 16})
    assert config.get("eval_dataset", "fallback") is None  # parse_dict hands LLaMA-Factory the null
    assert config.get("cutoff_len") == 2048 and config.lora_rank == 16
    assert config.get("no_such_key", "fallback") == "fallback"
