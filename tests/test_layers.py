"""The layers hold: every module's imports (read with ast, function-level imports included) point down.

    readers      -> nothing else of lfgate (the format readers stand alone)
    validator    -> not tools, commands or reporters (the checker is below the commands around it)
    suppressions -> not tools, commands or reporters
    runner       -> not commands (the commands drive the runner, never the reverse)
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
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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
