"""Dataset statistics: samples, turns, roles, prompt/response lengths, cutoff_len truncation, duplicates, media.

TARGET is a training YAML (its datasets, cutoff_len, stage and the model's tokenizer), a data file (its
dataset_info.json entry, or the entry `lfgate register` would write) or a dataset name in DIR/dataset_info.json.
Lengths are in tokens, the same count as `check` (lfgate/tokens): with the model's tokenizer when it is on this
machine (nothing is downloaded), else the `tokens` extra's vocabulary, else a calibrated estimate with its error
band. The chat template's own tokens count too when lfgate models the template (the runner's templates: qwen,
qwen3, llama3, chatml, ...); otherwise only message text is counted.
"""

from __future__ import annotations

import itertools
import os
import sys

from lfgate.errors import UsageError
from lfgate.readers import guarded

DEFAULT_CUTOFF_LEN = 2048  # LLaMA-Factory's default (DataArguments.cutoff_len)
INFER_RECORDS = 1000  # an unregistered file's entry is inferred from its first records (`register` reads all)


def add_arguments(parser) -> None:
    parser.add_argument("target", metavar="CONFIG|DATASET", help="a training YAML, a data file or a dataset name")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="override the config's values, as llamafactory-cli takes them (e.g. cutoff_len=4096)")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    parser.add_argument("--cutoff-len", type=int, metavar="N",
                        help=f"override cutoff_len (default: the config's, else {DEFAULT_CUTOFF_LEN})")
    parser.add_argument("--tokenizer", metavar="PATH",
                        help="a tokenizer.json or a model folder (default: the config's model: its folder, or the "
                             "Hugging Face / ModelScope / openMind cache)")
    parser.add_argument("--template", metavar="NAME", help="chat template whose tokens to count (default: the "
                                                          "config's)")
    parser.add_argument("--stage", choices=["pt", "sft", "rm", "ppo", "kto", "dpo", "orpo", "simpo"],
                        help="count as this stage loads the data (default: the config's, else from the data)")
    parser.add_argument("--dataset-dir", metavar="DIR", help="where dataset_info.json is (default: the config's "
                                                            "dataset_dir, else data)")
    parser.add_argument("--plot", metavar="FILE.png", help="save the length histogram with a line at cutoff_len")
    parser.add_argument("--devices", type=int, metavar="N",
                        help="devices the run uses, for the steps of a training YAML (default: from the "
                             "environment, as `lfgate train` counts them)")


def run(args) -> int:
    from lfgate.tools import stats as st, stats_render

    if args.cutoff_len is not None and args.cutoff_len < 1:
        raise UsageError("--cutoff-len must be at least 1")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError("--plot needs a .png file name")
    targets, config = _targets(args)
    cutoff_len = args.cutoff_len or config.get("cutoff_len") or DEFAULT_CUTOFF_LEN
    if not isinstance(cutoff_len, int) or isinstance(cutoff_len, bool) or cutoff_len < 1:
        raise UsageError(f"cutoff_len {cutoff_len!r} is not a positive integer")
    template_name = args.template or config.get("template")
    plans = {}
    from lfgate.settings import Settings

    placeholders = Settings().placeholders
    results = []
    for entry, stage, media_dir in targets:
        if not entry.local_path or not os.path.exists(entry.local_path):
            why = f"{entry.local_path} does not exist" if entry.local_path else \
                f"a {entry.load_from or 'remote'} dataset (nothing is downloaded)"
            print(f"lfgate: skipped dataset {entry.name}: {why}", file=sys.stderr)
            continue
        if stage not in plans:
            plans[stage] = st.plan_for(config, stage=stage, tokenizer=args.tokenizer, template=template_name,
                                       cutoff_len=cutoff_len)
        try:
            results.append(st.dataset_stats(entry, stage, plans[stage], placeholders, media_dir))
        except _unreadable() as err:
            raise UsageError(f"dataset {entry.name}: {err}") from None
    if not results:
        raise UsageError("no dataset to count: none of them is a local file")
    run = _run_shape(config, results, args) if config else None
    if args.format == "json":
        if run is None:
            stats_render.to_json(results, sys.stdout)
        else:
            import json

            json.dump({"datasets": [r.to_dict() for r in results], "run": run}, sys.stdout, ensure_ascii=False,
                      indent=2)
            sys.stdout.write("\n")
    else:
        plan = next(iter(plans.values()))
        if plan.template is not None:
            with_what = f"with the {template_name} template's tokens"
        else:
            why = f"lfgate does not model the {template_name} template" if template_name else "no template given"
            with_what = f"message text only ({why})"
        print(f"lengths in tokens, {results[0].counted_with}; {with_what}")
        stats_render.to_text(results, sys.stdout, color=sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
        if run is not None:
            print(f"run: {run['text']}")
    if args.plot:
        try:
            stats_render.plot(results, args.plot)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'lfgate[plot]'") from None
        except OSError as err:
            raise UsageError(f"cannot write {args.plot}: {err.strerror}") from None
        print(f"saved {args.plot}", file=sys.stderr if args.format == "json" else sys.stdout)
    return 0


def _run_shape(config: dict, results, args) -> dict:
    """Optimizer steps per epoch for the kept samples, with the device count `lfgate train` would use."""
    from lfgate import config_file
    from lfgate.devices_env import device_count
    from lfgate.runner.config import RunConfig
    from lfgate.runner.plan import steps
    from lfgate.settings import Settings

    try:
        settings = config_file.load_settings()
    except UsageError:
        settings = Settings()
    if args.devices is not None:
        if args.devices < 1:
            raise UsageError("--devices must be at least 1")
        settings.devices, settings.devices_from = args.devices, "--devices"
    count = device_count(settings)
    kept = sum(r.samples - r.dropped - r.crashes for r in results)
    run_config = RunConfig(args.target, dict(config))  # the checker's TrainingConfig, with the runner's fields
    budget = steps(kept, run_config, count.count)
    if "problem" in budget:
        text = f"{budget['problem']}; {count.describe()}"
    else:
        text = (f"{kept:,} kept samples, {budget['batch_per_step']} per optimizer step "
                f"(per_device_train_batch_size x gradient_accumulation_steps x {count.describe()}): "
                f"{budget['per_epoch']} steps per epoch, before any val_size split")
    return {"devices": count.count, "devices_source": count.source, "samples": kept, "steps": budget,
            "text": text}


def _unreadable():
    from lfgate.tools.register import Unreadable

    return Unreadable


# -- what to count ---------------------------------------------------------------------------------
def _targets(args):
    """[(entry, data stage, media_dir)], and the training config's values ({} without one)."""
    from lfgate.validator.model import DATA_STAGE

    target = args.target
    stage_arg = DATA_STAGE.get(args.stage) if args.stage else None
    if target.endswith((".yaml", ".yml")):
        return _from_config(args, stage_arg)
    if args.overrides:
        raise UsageError("KEY=VALUE overrides apply to a training YAML only")
    if os.path.isfile(target):
        entry = _entry_for_file(target, args.dataset_dir)
        return [(entry, stage_arg or _stage_of_entry(entry), None)], {}
    folder = args.dataset_dir or "data"
    registry = _registry(os.path.join(folder, "dataset_info.json"))
    if target not in registry.entries:
        raise UsageError(f"{target} is neither a file nor a dataset in {os.path.join(folder, 'dataset_info.json')}")
    entry = registry.entries[target]
    return [(entry, stage_arg or _stage_of_entry(entry), None)], {}


def _from_config(args, stage_arg):
    import yaml

    from lfgate.lf_facts import split_names
    from lfgate.overrides import apply_overrides
    from lfgate.validator.model import DATA_STAGE

    try:
        with guarded.open_regular(args.target, "r", encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except OSError as err:
        raise UsageError(f"cannot read {args.target}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise UsageError(f"{args.target} is not valid YAML ({err}); `lfgate check {args.target}` shows where") \
            from None
    if isinstance(config, dict):
        overrides = {}
        for item in args.overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"{item!r} is not KEY=VALUE")
            overrides[key.lstrip("-")] = value
        apply_overrides(config, overrides)  # as check and train read them
    if not isinstance(config, dict) or not config.get("dataset"):
        raise UsageError(f"{args.target} names no `dataset`")
    names = split_names(config["dataset"])
    folder = args.dataset_dir or config.get("dataset_dir") or "data"
    registry = _registry(os.path.join(folder, "dataset_info.json"))
    stage = stage_arg or DATA_STAGE.get(config.get("stage", "sft"), "sft")
    media_dir = config.get("media_dir") or None
    targets = []
    for name in dict.fromkeys(names):  # LLaMA-Factory loads a repeated name once
        if name not in registry.entries:
            raise UsageError(f"dataset {name!r} is not in {registry.path}")
        targets.append((registry.entries[name], stage, media_dir))
    return targets, config


def _registry(path: str):
    from lfgate.settings import Settings
    from lfgate.validator import dataset_info

    if not os.path.isfile(path):
        raise UsageError(f"{path} does not exist (--dataset-dir names the folder that holds it)")
    registry = dataset_info.load_registry(path, Settings())
    if not registry.readable:
        raise UsageError(f"{path} is not valid JSON; `lfgate check {path}` shows where")
    return registry


def _entry_for_file(path: str, dataset_dir):
    """The registry entry whose file is `path`, else the entry `lfgate register` would write for it."""
    from lfgate.tools import register, validate
    from lfgate.validator.infer import Inconsistent, infer
    from lfgate.validator.project import find_registry_for

    target = os.path.abspath(path)
    registries = [os.path.join(dataset_dir, "dataset_info.json")] if dataset_dir else find_registry_for(path)
    for registry_path in registries:
        if not os.path.isfile(registry_path):
            continue
        for entry in _registry(registry_path).entries.values():
            if entry.local_path and os.path.abspath(entry.local_path) == target:
                return entry
    registry_path = os.path.join(os.path.dirname(target), "dataset_info.json")
    try:
        inferred = infer(itertools.islice(register.iter_values(path), INFER_RECORDS))
    except Inconsistent as err:
        raise UsageError(f"{path} is not registered and its format cannot be inferred: {err.render()}") from None
    except register.Unreadable as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    raw = dict(inferred.entry, file_name=os.path.basename(path))
    return validate.entry_for(register.dataset_name(path), raw, registry_path)


def _stage_of_entry(entry) -> str:
    kind = entry.kind
    if kind == "ranking":
        return "rm"
    if kind == "kto":
        return "kto"
    columns = {k: v for k, v in entry.columns.items() if v}
    if entry.formatting == "alpaca" and set(columns) == {"prompt"}:
        return "pt"
    return "sft"
