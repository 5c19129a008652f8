"""Check a training config, its registry and its datasets, then launch LoRA SFT.

Everything `lfgate check` runs, plus whether this runner can train the config on this machine (rules RN*).
Any error stops the launch before a model is loaded. Then the built-in runner trains (torchrun for several
devices or nodes), or `--backend llamafactory` runs `llamafactory-cli train CONFIG` with the same overrides.
`--dry-run` prints the plan (device, dtype, samples, steps, tokens, LoRA parameters, memory) and stops.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from lfgate import subprocesses
from lfgate.commands import common
from lfgate.errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="CONFIG", help="training YAML, then key=value overrides")
    parser.add_argument("--backend", choices=["builtin", "llamafactory"], default="builtin",
                        help="builtin: lfgate's LoRA SFT runner (default); llamafactory: llamafactory-cli train")
    parser.add_argument("--dry-run", action="store_true", help="check and print the plan; load no weights")
    parser.add_argument("--rehearse", action="store_true",
                        help="check, then train the costliest batch for two steps on this device with the real model "
                             "and settings, report peak memory, loss and time, and exit without saving (exit 1 when "
                             "it fails, does not fit or gives NaN)")
    parser.add_argument("--no-handshake", action="store_true",
                        help="multi-node: skip the fingerprint exchange with node 0 before torchrun (versions, config "
                             "and data hashes, device count)")
    parser.add_argument("--handshake-timeout", type=float, metavar="S", default=None,
                        help="multi-node: seconds for every node to reach node 0 (default 600)")
    parser.add_argument("--memory", type=float, metavar="GIB",
                        help="with --rehearse: the memory per device to fit in, instead of what the device has")
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


@dataclass
class _Run:
    """What one `lfgate train` decides, stage by stage."""

    path: str
    overrides: dict
    settings: Any
    builtin: bool
    report: Any = None
    checker: Any = None
    config: Any = None  # the runner's RunConfig (None when the YAML cannot be read as one)
    machine: Any = None
    target: Any = None  # --target: the machine a dry run plans for
    count: Any = None  # the run's devices (devices_env.DeviceCount)
    precision: Any = None
    samples: Any = None
    errors: list = field(default_factory=list)
    plan: Optional[dict] = None
    world_size: int = 1


def run(args) -> int:
    """Check (with the gate and the RN rules), decide (the plan, the report), launch."""
    # Idle OpenMP threads busy-wait by default (libgomp). On a CPU shared with other work, every parallel region
    # then waits for descheduled threads: steps ~20x slower (benchmarks/README.md). Only effective before torch
    # is imported, hence here; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    path, overrides = _config_path(args)
    _rehearse_args(args)
    settings = common.settings_from_args(args, overrides)
    common.guard_outputs(args, [path], settings)
    path = _into_launch_dir(args, path, settings)
    state = _check(args, _Run(path, overrides, settings, builtin=args.backend == "builtin"))
    _decide(args, state)
    return _launch(args, state)


def _into_launch_dir(args, path: str, settings) -> str:
    """With --launch-dir (or launch-dir) naming another folder, everything runs there, as after `cd DIR`: the
    check, the built-in runner and llamafactory-cli. The paths given on the command line keep their meaning."""
    folder = settings.launch_dir
    if not folder or os.path.abspath(folder) == os.getcwd():
        return path
    if getattr(args, "output_file", None):
        args.output_file = os.path.abspath(args.output_file)
    if settings.baseline:
        settings.baseline = os.path.abspath(settings.baseline)
    path = os.path.abspath(path)
    os.chdir(folder)
    settings.launch_dir = os.getcwd()
    print(f"lfgate: running in {settings.launch_dir} ({settings.launch_dir_from})", file=sys.stderr)
    return path


def _check(args, state: _Run) -> _Run:
    """Stage 1: every `lfgate check` rule, the launch gate (TY017) and what this runner or machine cannot do (RN)."""
    from lfgate import findings
    from lfgate.diagnostics import Severity
    from lfgate.runner import config as config_mod, devices, rules
    from lfgate.validator import launch
    from lfgate.validator.engine import Checker, unique

    settings = state.settings
    if not settings.launch_dir:  # llamafactory-cli and the runner start in the current folder
        settings.launch_dir, settings.launch_dir_from = os.getcwd(), "lfgate train runs it in the current folder"
    _check_launch_env(os.environ)
    state.target = _target(args, devices)
    probe = devices.Probe()
    state.machine = machine = state.target.machine if state.target else devices.detect(probe)
    if state.target is None and args.dry_run and not args.allow_cpu:  # plan for the devices the variable names
        from lfgate.devices_env import device_count

        state.target = devices.implied_target(device_count(settings), machine)
        state.machine = machine = state.target.machine if state.target else machine
    _devices_for_the_check(args, state, settings, machine)
    state.checker = checker = Checker(settings, launching=True)  # a stock example it launches keeps its errors
    state.report = report = checker.run([state.path], finalize=False)  # finalized below, with the RN findings
    report.extend(launch.refusal(checker.configs, checker.not_configs, state.path))
    try:
        state.config = config_mod.load(state.path, state.overrides)
    except ValueError as err:
        if not any(d.severity == Severity.ERROR for d in report.diagnostics):
            raise UsageError(str(err)) from None
    state.count = _device_count(settings, machine, state.target, args)
    if state.config is not None:
        found = _runner_findings(args, state, rules, devices, probe)
        report.extend(found)  # finalize drops what an RN finding covers (RN012: LK033; RN016: TY407, TY411)
        report.diagnostics = unique(report.diagnostics)  # the launch variables: the checker's and the RN pass's
    report.diagnostics = findings.finalize(report.diagnostics, settings, checker.files_read())
    state.errors = [d for d in report.diagnostics if d.severity == Severity.ERROR]
    return state


def _devices_for_the_check(args, state: _Run, settings, machine) -> None:
    """The check's step budget plans for the devices train will launch on (or the --target)."""
    if state.target is not None and not state.target.implied_by and not settings.devices:
        settings.devices, settings.devices_from = state.target.machine.count, f"--target {args.target}"
    elif machine.kind != "cpu":
        settings.devices_present = (machine.count, machine.kind)
    elif args.allow_cpu and not settings.devices:  # visible NPUs/GPUs that are not here: one CPU process
        from lfgate.devices_env import device_count

        asked = device_count(settings)
        if asked.kind in ("npu", "cuda"):
            settings.devices, settings.devices_from = 1, f"--allow-cpu: one CPU process, {asked.source} ignored"


def _runner_findings(args, state: _Run, rules, devices, probe) -> list:
    from lfgate.diagnostics import Severity

    config, machine = state.config, state.machine
    bf16, fp16 = bool(config.get("bf16", False)), bool(config.get("fp16", False))
    if state.target is not None and state.target.dtype:
        bf16, fp16 = state.target.dtype == "bf16", state.target.dtype == "fp16"
    state.precision = devices.choose_precision(machine, bf16, fp16)
    found = rules.machine_checks(config, machine, state.precision, state.builtin, settings=state.settings)
    if state.target is None:
        found += rules.device_checks(config, machine, state.count, os.environ, args.allow_cpu, probe)
    elif state.target.implied_by:
        from lfgate.runner import plan_rules

        found += plan_rules.absent_devices(config, state.target)
    from lfgate.runner import launch_rules

    found += launch_rules.launch_checks(config, state.builtin)
    if state.builtin:
        found += rules.runner_checks(config)
    if state.builtin and not any(d.severity == Severity.ERROR for d in found):
        problems, state.samples = _load_data(config, state.settings, rules)
        found += problems
    return found


def _decide(args, state: _Run) -> None:
    """Stage 2: the world size and, for --dry-run, the plan; then the report."""
    from lfgate.runner import devices

    if state.config is not None and state.builtin and not state.errors:
        if state.target is not None or devices.needs_torchrun(os.environ, state.machine, state.count):
            state.world_size = state.count.count
        if args.dry_run:
            state.plan = _plan(state.config, state.machine, state.precision, state.world_size, state.samples,
                               state.count, state.target, args.trust_remote_code)
            from lfgate import findings
            from lfgate.runner import plan_rules

            state.report.diagnostics += findings.finalize(plan_rules.fit_findings(state.config, state.plan),
                                                          state.settings)
    if state.errors or not args.rehearse:  # a rehearsal reports with its result
        _emit(state.report, args, state.settings, state.plan)


def _launch(args, state: _Run) -> int:
    """Stage 3: stop on an error, or run llamafactory-cli, torchrun or the built-in runner."""
    from lfgate.runner import devices

    path, overrides, settings = state.path, state.overrides, state.settings
    if state.errors:
        print(f"lfgate: {len(state.errors)} error(s): not launching", file=sys.stderr)
        return 1
    if not state.builtin and _llamafactory_stack_refused(settings):
        return 1
    if args.dry_run:
        if not state.builtin:
            print(f"would run: {' '.join(_llamafactory_command(path, overrides))}", file=sys.stderr)
        return common.exit_code(state.report, settings)
    missing = _missing_train_extra() if state.builtin else []
    if missing:
        print(f"lfgate: the built-in runner needs {', '.join(missing)}, not installed here: "
              "pip install 'lfgate[train]' (with the torch build for your machine first), or --backend llamafactory",
              file=sys.stderr)
        return 2
    for note in state.machine.notes:
        print(f"lfgate: warning: {note}", file=sys.stderr)
    if not args.rehearse and not _handshake(args, os.environ, state.config, path, overrides, settings,
                                            state.machine, state.count):
        return 1
    if not state.builtin:
        return _run_llamafactory(path, overrides, settings)
    if args.rehearse:
        return _rehearse(state.config, state.machine, state.precision, settings, state.samples, args, state.report,
                         state.world_size)
    if state.world_size > 1:
        command = devices.torchrun_command(os.environ, state.machine, [path, *[f"{k}={v}" for k, v in
                                                                             overrides.items()]], count=state.count)
        print(f"lfgate: {state.count.describe()}: launching {subprocesses.shown(command)}", file=sys.stderr)
        return subprocesses.call(command, env=subprocesses.child_env({**os.environ, "LFGATE_CHECKED": "1"}))
    return _train(state.config, state.machine, state.precision, settings, state.samples)


def _check_launch_env(env) -> None:
    """torchrun's variables must be whole numbers (llamafactory-cli passes them to torchrun as they are)."""
    for name in ("NNODES", "NPROC_PER_NODE", "NODE_RANK"):
        value = env.get(name)
        if value is not None and not (value.strip().isdigit() and (int(value) >= 1 or name == "NODE_RANK")):
            raise UsageError(f"{name}={value!r} is not a whole number{' of at least 1' if name != 'NODE_RANK' else ''}")


def _rehearse_args(args) -> None:
    if args.rehearse and args.dry_run:
        raise UsageError("--rehearse trains two steps; --dry-run loads no weights: choose one")
    if args.rehearse and args.backend != "builtin":
        raise UsageError("--rehearse runs the built-in runner's step: drop --backend llamafactory")
    if args.memory is not None and (not args.rehearse or not args.memory > 0):
        raise UsageError("--memory GIB goes with --rehearse and must be positive")


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
        origin = recipe.model_origin(config)  # a hub id from the ModelScope / openMind cache
        if origin:
            print(f"lfgate: {origin}", file=sys.stderr)
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


def _emit(report, args, settings, plan, extra=None) -> None:
    from lfgate.runner.plan import render_text

    if args.format == "json":
        from lfgate.reporters.json_format import to_object
        from lfgate.sanitize import clean_report

        obj = to_object(clean_report(report))
        if plan is not None:
            obj["plan"] = plan
        obj.update(extra or {})
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
    exe = subprocesses.which(command[0])  # never a `llamafactory-cli` committed in the project
    if exe is None:
        raise UsageError("llamafactory-cli is not installed: pip install llamafactory (or use --backend builtin)")
    print(f"lfgate: running {' '.join(command)}", file=sys.stderr)
    # a tokenized_path cache this run creates gets a fingerprint beside it, which `check` compares (LK101)
    config = training.load_config(path, os.path.dirname(os.path.abspath(path)), settings)

    def registry():
        found = registry_path(config, settings)
        return load_registry(found, settings) if found and os.path.isfile(found) else None

    return cached_data.record_around(lambda: subprocesses.call([exe, *command[1:]], env=dict(os.environ)), config,
                                     registry, settings)


def _handshake(args, env, config, path, overrides, settings, machine, count) -> bool:
    """Multi-node: agree with node 0 before torchrun (runner/handshake.py). False: stop (the message is printed)."""
    from lfgate.runner import handshake

    nnodes = int(env.get("NNODES", "1")) if str(env.get("NNODES", "1")).isdigit() else 1
    if nnodes <= 1 or args.no_handshake or config is None:
        return True
    node = handshake.Node(int(env.get("NODE_RANK", "0")), nnodes, env["MASTER_ADDR"], handshake.side_port(env),
                          args.handshake_timeout or handshake.DEFAULT_TIMEOUT)
    per_node = count.per_node or (machine.count if machine.kind != "cpu" else 1)
    mine = handshake.fingerprint(path, overrides, _dataset_paths(config, settings), (machine.kind, per_node))
    action = "waiting for" if node.rank == 0 else "reporting to"
    print(f"lfgate: node {node.rank} of {nnodes}: {action} the handshake at {node.master_addr}:{node.port} (up to "
          f"{node.timeout:.0f} s; --no-handshake skips it)", file=sys.stderr)
    try:
        handshake.run(node, mine)
    except handshake.HandshakeError as err:
        print(f"lfgate: error: {err}", file=sys.stderr)
        print("lfgate: not launching", file=sys.stderr)
        return False
    print(f"lfgate: node {node.rank}: the {nnodes} nodes agree with node 0", file=sys.stderr)
    return True


def _dataset_paths(config, settings) -> dict:
    """name -> the local file or folder of each dataset the run reads (None: not a local file)."""
    from lfgate.runner.data import registry_path
    from lfgate.settings import Settings
    from lfgate.validator import dataset_info

    registry = dataset_info.load_registry(registry_path(config, settings.dataset_dir), Settings())
    out = {}
    for name in dict.fromkeys(config.datasets + config.eval_datasets):
        entry = registry.entries.get(name) if registry.readable else None
        out[name] = entry.local_path if entry is not None else None
    return out


def _rehearse(config, machine, precision, settings, samples, args, report, world_size) -> int:
    from lfgate.runner import rehearse
    from lfgate.runner.data import DataError

    try:
        result = rehearse.rehearse(config, machine, precision, settings.dataset_dir, samples, args.memory, world_size)
    except (DataError, OSError) as err:
        raise UsageError(str(err).strip().splitlines()[0] if str(err).strip() else repr(err)) from None
    if args.format == "json":
        _emit(report, args, settings, None, extra={"rehearsal": result})
    else:
        _emit(report, args, settings, None)
        sys.stdout.write(rehearse.render_text(result))
    return 0 if result["ok"] else 1


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
