"""Check a training config, its registry and its datasets, then launch LoRA SFT.

Everything `lfgate check` runs, plus whether this runner can train the config on this machine (rules RN*).
Any error stops the launch before a model is loaded. Then the built-in runner trains (torchrun for several
devices or nodes), or `--backend llamafactory` runs `llamafactory-cli train CONFIG` with the same overrides.
`--dry-run` prints the plan (device, dtype, samples, steps, tokens, LoRA parameters, memory) and stops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from lfgate.commands import common
from lfgate.errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="CONFIG", help="training YAML, then key=value overrides")
    parser.add_argument("--backend", choices=["builtin", "llamafactory"], default="builtin",
                        help="builtin: lfgate's LoRA SFT runner (default); llamafactory: llamafactory-cli train")
    parser.add_argument("--dry-run", action="store_true", help="check and print the plan; load no weights")
    parser.add_argument("--target", metavar="KIND[:N][,DTYPE]",
                        help="with --dry-run: plan for another machine, e.g. npu:2,bf16 or h100:8 (memory per "
                             "device, steps and dtype from a known table)")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="train on the CPU even though a visible-devices variable asks for NPUs or GPUs")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let --dry-run run the model folder's own Python (auto_map) to count parameters; "
                             "the YAML's trust_remote_code alone never does in a dry run")
    common.add_check_arguments(parser)


def _config_path(args):
    paths, overrides = common.split_overrides(args.paths)
    if len(paths) != 1:
        raise UsageError("give exactly one training YAML (then key=value overrides)")
    if not os.path.isfile(paths[0]):
        raise UsageError(f"{paths[0]} does not exist")
    return paths[0], overrides


def run(args) -> int:
    # Idle OpenMP threads busy-wait by default (libgomp). On a CPU shared with other work, every parallel region
    # then waits for descheduled threads: steps ~20x slower (benchmarks/README.md). Only effective before torch
    # is imported, hence here; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from lfgate import findings
    from lfgate.diagnostics import Severity
    from lfgate.runner import config as config_mod, devices, rules
    from lfgate.validator.engine import Checker, unique

    path, overrides = _config_path(args)
    settings = common.settings_from_args(args, overrides)
    common.guard_outputs(args, [path], settings)
    builtin = args.backend == "builtin"
    _check_launch_env(os.environ)
    target = _target(args, devices)
    probe = devices.Probe()
    machine = target.machine if target else devices.detect(probe)
    if target is not None and not settings.devices:  # the check's step budget plans for the target too
        settings.devices, settings.devices_from = target.machine.count, f"--target {args.target}"
    elif machine.kind != "cpu":  # the check counts the devices train will launch on
        settings.devices_present = (machine.count, machine.kind)
    elif args.allow_cpu and not settings.devices:  # visible NPUs/GPUs that are not here: one CPU process
        from lfgate.devices_env import device_count

        asked = device_count(settings)
        if asked.kind in ("npu", "cuda"):
            settings.devices, settings.devices_from = 1, f"--allow-cpu: one CPU process, {asked.source} ignored"
    checker = Checker(settings)
    report = checker.run([path], finalize=False)  # finalized below, with the RN findings
    try:
        config = config_mod.load(path, overrides)
    except ValueError as err:
        config = None
        if not any(d.severity == Severity.ERROR for d in report.diagnostics):
            raise UsageError(str(err)) from None

    count = _device_count(settings, machine, target, args)
    plan, world_size, samples = None, 1, None
    if config is not None:
        bf16, fp16 = bool(config.get("bf16", False)), bool(config.get("fp16", False))
        if target is not None and target.dtype:
            bf16, fp16 = target.dtype == "bf16", target.dtype == "fp16"
        precision = devices.choose_precision(machine, bf16, fp16)
        found = rules.machine_checks(config, machine, precision, builtin, settings=settings)
        if target is None:
            found += rules.device_checks(config, machine, count, os.environ, args.allow_cpu, probe)
        if builtin:
            found += rules.runner_checks(config)
        if builtin and not any(d.severity == Severity.ERROR for d in found):
            problems, samples = _load_data(config, settings, rules)
            found += problems
        report.diagnostics = rules.without_replaced(report.diagnostics, found)
        report.extend(found)
        report.diagnostics = unique(report.diagnostics)  # the launch variables: the checker's and the RN pass's
    report.diagnostics = findings.finalize(report.diagnostics, settings, checker.files_read())
    errors = [d for d in report.diagnostics if d.severity == Severity.ERROR]
    env = os.environ
    if config is not None and builtin and not errors:
        if target is not None or devices.needs_torchrun(env, machine, count):
            world_size = count.count
        if args.dry_run:
            plan = _plan(config, machine, precision, world_size, samples, count, target, args.trust_remote_code)

    _emit(report, args, settings, plan)
    if errors:
        print(f"lfgate: {len(errors)} error(s): not launching", file=sys.stderr)
        return 1
    if not builtin and _llamafactory_stack_refused(settings):
        return 1
    if args.dry_run:
        if not builtin:
            print(f"would run: {' '.join(_llamafactory_command(path, overrides))}", file=sys.stderr)
        return common.exit_code(report, settings)
    missing = _missing_train_extra() if builtin else []
    if missing:
        print(f"lfgate: the built-in runner needs {', '.join(missing)}, not installed here: "
              "pip install 'lfgate[train]' (with the torch build for your machine first), or --backend llamafactory",
              file=sys.stderr)
        return 2
    for note in machine.notes:
        print(f"lfgate: warning: {note}", file=sys.stderr)
    if not builtin:
        return _run_llamafactory(path, overrides, settings)
    if world_size > 1:
        command = devices.torchrun_command(env, machine, [path, *[f"{k}={v}" for k, v in overrides.items()]],
                                           count=count)
        print(f"lfgate: {count.describe()}: launching {' '.join(command)}", file=sys.stderr)
        return subprocess.call(command, env={**env, "LFGATE_CHECKED": "1"})
    return _train(config, machine, precision, settings, samples)


def _check_launch_env(env) -> None:
    """torchrun's variables must be whole numbers (llamafactory-cli passes them to torchrun as they are)."""
    for name in ("NNODES", "NPROC_PER_NODE", "NODE_RANK"):
        value = env.get(name)
        if value is not None and not (value.strip().isdigit() and (int(value) >= 1 or name == "NODE_RANK")):
            raise UsageError(f"{name}={value!r} is not a whole number{' of at least 1' if name != 'NODE_RANK' else ''}")


def _target(args, devices):
    if not args.target:
        return None
    if not args.dry_run:
        raise UsageError("--target plans for another machine: use it with --dry-run")
    try:
        return devices.parse_target(args.target)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _device_count(settings, machine, target, args):
    """The run's devices (devices_env.device_count), from --target when planning for another machine."""
    from lfgate.devices_env import DeviceCount, device_count

    if target is not None and str(settings.devices_from).startswith("--target"):
        return DeviceCount(target.machine.count, f"--target {args.target}", kind=target.machine.kind,
                           per_node=target.machine.count)
    present = (lambda: (machine.count, machine.kind)) if machine.kind != "cpu" else (lambda: None)
    return device_count(settings, present=present)


def _missing_train_extra() -> list:
    """The runner's libraries (the `train` extra) that cannot be imported."""
    import importlib

    missing = []
    for name in ("torch", "transformers", "peft"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _load_data(config, settings, rules):
    """The samples the run will train (RN006 when the runner cannot read them)."""
    from lfgate.runner import data

    try:
        return [], data.load_samples(config, settings.dataset_dir)
    except data.DataError as err:
        return [rules.DATA_NOT_TRAINABLE.diag(str(err), **rules.where(config, "dataset"))], None


def _plan(config, machine, precision, world_size, samples, count=None, target=None, trust_remote_code=False):
    from lfgate.runner import plan as plan_mod, recipe

    train, evaluation = samples or ([], [])
    per_dataset = {}
    for sample in train + evaluation:
        per_dataset[sample.dataset] = per_dataset.get(sample.dataset, 0) + 1
    tokenizer = None
    reach = recipe.hub_problem(config)
    if reach:
        print(f"lfgate: {reach}; no token counts", file=sys.stderr)
    else:
        try:
            tokenizer = recipe.load_tokenizer(config, trust_remote_code=trust_remote_code)
            recipe.build_template(config, tokenizer)
        except Exception as err:  # a broken tokenizer, code it would need to run: plan without token counts
            print(f"lfgate: cannot load the tokenizer ({type(err).__name__}: {err}); no token counts",
                  file=sys.stderr)
            tokenizer = None
    return plan_mod.make_plan(config, machine, precision, world_size, train, evaluation, per_dataset, tokenizer,
                              count=count, target=target, trust_remote_code=trust_remote_code,
                              offline_reason=reach)


def _emit(report, args, settings, plan) -> None:
    from lfgate.runner.plan import render_text

    if args.format == "json":
        from lfgate.reporters.json_format import to_object
        from lfgate.sanitize import clean_report

        obj = to_object(clean_report(report))
        if plan is not None:
            obj["plan"] = plan
        text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
        if args.output_file:
            common.write_output(args.output_file, lambda f: f.write(text))
        else:
            sys.stdout.write(text)
        return
    common.emit(report, args, settings)
    if plan is not None:
        sys.stdout.write(render_text(plan))


def _llamafactory_stack_refused(settings) -> bool:
    """llamafactory-cli checks its dependency versions at start-up and stops outside its ranges (lf_pins.py): say
    what is off, with the fix, before launching it."""
    from lfgate import lf_pins

    problems, note = lf_pins.launch_problems(settings.llamafactory_version)
    if note:
        print(f"lfgate: warning: {note}", file=sys.stderr)
    for problem in problems:
        print(f"lfgate: error: {problem}", file=sys.stderr)
    if problems:
        print("lfgate: not launching llamafactory-cli (set DISABLE_VERSION_CHECK=1 to run it anyway: LLaMA-Factory "
              "then skips its own version check too)", file=sys.stderr)
    return bool(problems)


def _llamafactory_command(path, overrides):
    return ["llamafactory-cli", "train", path, *[f"{k}={v}" for k, v in overrides.items()]]


def _run_llamafactory(path, overrides, settings=None) -> int:
    from lfgate.validator import cached_data, training
    from lfgate.validator.dataset_info import load_registry
    from lfgate.validator.usage import registry_path

    command = _llamafactory_command(path, overrides)
    exe = shutil.which(command[0])
    if exe is None:
        raise UsageError("llamafactory-cli is not installed: pip install llamafactory (or use --backend builtin)")
    print(f"lfgate: running {' '.join(command)}", file=sys.stderr)
    # a tokenized_path cache this run creates gets a fingerprint beside it, which `check` compares (LK101)
    config = training.load_config(path, os.path.dirname(os.path.abspath(path)), settings)

    def registry():
        found = registry_path(config, settings)
        return load_registry(found, settings) if found and os.path.isfile(found) else None

    return cached_data.record_around(lambda: subprocess.call([exe, *command[1:]], env=dict(os.environ)), config,
                                     registry, settings)


def _train(config, machine, precision, settings, samples) -> int:
    from lfgate.runner import recipe
    from lfgate.runner.data import DataError

    if precision.note:
        print(f"lfgate: {precision.note}", file=sys.stderr)
    try:
        metrics = recipe.train(config, machine, precision, settings.dataset_dir, samples=samples)
    except (DataError, OSError) as err:  # OSError: a model or tokenizer that cannot be found or read
        raise UsageError(str(err).strip().splitlines()[0] if str(err).strip() else repr(err)) from None
    loss = metrics.get("train_loss")
    print(f"lfgate: done: train_loss {loss:.4f}, {metrics.get('train_runtime', 0):.1f} s, "
          f"{metrics.get('train_samples_per_second', 0):.1f} samples/s; adapter in {config.output_dir}",
          file=sys.stderr)
    return 0
