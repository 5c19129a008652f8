"""Check an export config, then merge its LoRA adapters into the base model (what `llamafactory-cli export` does).

Everything `lfgate check` runs on the config, plus the export's own checks (RN050-RN059). Any error stops the
export before a model loads. Then the built-in export merges with peft and saves to `export_dir`, or
`--backend llamafactory` runs `llamafactory-cli export CONFIG` with the same overrides.
"""

from __future__ import annotations

import os
import sys

from lfgate import subprocesses
from lfgate.commands import common
from lfgate.errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="CONFIG", help="export YAML, then key=value overrides")
    parser.add_argument("--backend", choices=["builtin", "llamafactory"], default="builtin",
                        help="builtin: merge LoRA adapters with peft (default); llamafactory: llamafactory-cli export")
    parser.add_argument("--dry-run", action="store_true", help="check and say what would be merged; load no weights")
    common.add_check_arguments(parser)


def run(args) -> int:
    from lfgate import findings
    from lfgate.diagnostics import Severity
    from lfgate.runner import config as config_mod, export
    from lfgate.validator.engine import Checker

    paths, overrides = common.split_overrides(args.paths)
    if len(paths) != 1:
        raise UsageError("give exactly one export YAML (then key=value overrides)")
    path = paths[0]
    if not os.path.isfile(path):
        raise UsageError(f"{path} does not exist")
    settings = common.settings_from_args(args, overrides)
    common.guard_outputs(args, [path], settings)
    builtin = args.backend == "builtin"
    checker = Checker(settings, launching=True)  # an unchanged LLaMA-Factory example it runs keeps its errors
    report = checker.run([path], finalize=False)
    try:
        config = config_mod.load(path, overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    report.extend(export.checks(config, builtin))
    report.diagnostics = findings.finalize(report.diagnostics, settings, checker.files_read())
    common.emit(report, args, settings)
    errors = [d for d in report.diagnostics if d.severity == Severity.ERROR]
    if errors:
        print(f"lfgate: {len(errors)} error(s): not exporting", file=sys.stderr)
        return 1
    command = ["llamafactory-cli", "export", path, *[f"{k}={v}" for k, v in overrides.items()]]
    merged = ", ".join(export.adapters(config)) or "no adapter (the model is saved again)"
    if args.dry_run:
        what = " ".join(command) if not builtin else (
            f"merge {merged} into {config.values.get('model_name_or_path')}, save to {export.export_dir(config)}")
        print(f"lfgate: would {'run: ' if not builtin else ''}{what}", file=sys.stderr)
        return common.exit_code(report, settings)
    if not builtin:
        exe = subprocesses.which(command[0])  # never a `llamafactory-cli` committed in the project
        if exe is None:
            raise UsageError("llamafactory-cli is not installed: pip install llamafactory (or use --backend builtin)")
        print(f"lfgate: running {subprocesses.shown(command)}", file=sys.stderr)
        return subprocesses.call([exe, *command[1:]], env=dict(os.environ))
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        print(f"lfgate: the built-in export needs {err.name}, not installed here: pip install 'lfgate[train]' "
              "(with the torch build for your machine first), or --backend llamafactory", file=sys.stderr)
        return 2
    from lfgate.runner import devices, recipe

    reach = recipe.hub_problem(config, weights=True)  # one short probe, not a hub SDK's retries
    if reach:
        print(f"lfgate: error: model_name_or_path: {reach}", file=sys.stderr)
        return 1
    origin = recipe.model_origin(config, weights=True)  # a hub id from the ModelScope / openMind cache
    if origin:
        print(f"lfgate: {origin}", file=sys.stderr)
    machine = devices.detect(devices.Probe())
    folder = export.merge(config, machine.bf16, machine.fp16, lambda m: print(f"lfgate: {m}", file=sys.stderr))
    print(f"lfgate: exported to {folder}", file=sys.stderr)
    return 0
