"""Show what will be trained: each sample rendered with its chat template, masked tokens apart from trained ones.

Uses the same data path, template and tokenizer as `lfgate train`, so this is exactly what the model sees.
In text output, trained (label) tokens are green and masked ones dim; without colour they are set off with
[[ ]]. `--format json` gives input_ids, labels and the decoded text of each sample.
"""

from __future__ import annotations

import os
import sys

from lfgate.commands import common
from lfgate.errors import UsageError
from lfgate.sanitize import safe, safe_tree


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="CONFIG", help="training YAML, then key=value overrides")
    parser.add_argument("--samples", "-n", type=int, default=3, metavar="N", help="how many samples (default 3)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--dataset-dir", metavar="DIR", help="override the config's dataset_dir")
    parser.add_argument("--devices", type=int, metavar="N", help="devices the run uses (default: from the "
                                                                "environment, as `lfgate train` counts them)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the tokenizer run the model folder's own Python (auto_map); the YAML's "
                             "trust_remote_code alone never does here")


def run(args) -> int:
    from lfgate.runner import config as config_mod, data, recipe
    from lfgate.runner.tokenize import IGNORE_INDEX

    paths, overrides = common.split_overrides(args.paths)
    if len(paths) != 1 or not os.path.isfile(paths[0]):
        raise UsageError("give exactly one existing training YAML (then key=value overrides)")
    if args.samples < 1:
        raise UsageError("--samples must be at least 1")
    try:
        config = config_mod.load(paths[0], overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    from lfgate.runner.templates import TEMPLATES

    if config.values.get("template") not in TEMPLATES:
        raise UsageError(f"template {config.values.get('template')!r} is not one lfgate renders "
                         f"({', '.join(sorted(TEMPLATES))})")
    from lfgate.runner.hub import other_hub

    reach = recipe.hub_problem(config)
    if reach and other_hub():  # not in the ModelScope / openMind cache, and that hub out of reach
        from lfgate.runner.rules import MODEL_NOT_FOUND  # the finding `train` gives for the same config

        print(safe(f"{paths[0]}: error: model_name_or_path: {reach} [{MODEL_NOT_FOUND.code}]"), file=sys.stderr)
        return 1
    if reach:
        raise UsageError(reach)
    origin = recipe.model_origin(config)
    if origin:
        print(safe(f"lfgate: {origin}"), file=sys.stderr)
    try:
        train, _ = data.load_samples(config, args.dataset_dir)
        tokenizer = recipe.load_tokenizer(config, trust_remote_code=args.trust_remote_code)
    except (data.DataError, OSError) as err:
        raise UsageError(str(err)) from None
    except ValueError as err:  # transformers: code it may not run (auto_map), an unknown model type
        raise UsageError(f"cannot load the tokenizer: {str(err).strip().splitlines()[0] if str(err).strip() else err}"
                         + ("; it needs the model folder's own code: pass --trust-remote-code"
                            if "trust_remote_code" in str(err) else "")) from None
    template, _ = recipe.build_template(config, tokenizer)
    chosen = sorted(train, key=lambda s: (s.dataset, s.index))[:args.samples]
    features = recipe.tokenize(chosen, tokenizer, template, recipe.data_options(config))
    from lfgate.tokens.runs import lengths as counted  # before cutoff_len: the count `check` and `stats` make

    rows = []
    for sample, feature, length in zip(chosen, features, counted(config.values, chosen)):
        ids, labels = feature["input_ids"], feature["labels"]
        rows.append({"dataset": sample.dataset, "sample": sample.index, "input_ids": ids, "labels": labels,
                     "text": tokenizer.decode(ids, skip_special_tokens=False),
                     "trained_text": tokenizer.decode([t for t in labels if t != IGNORE_INDEX],
                                                      skip_special_tokens=False),
                     "tokens": len(ids), "trained_tokens": sum(1 for t in labels if t != IGNORE_INDEX),
                     "tokens_before_cutoff": int(round(length.total)) if length is not None else None})
    untrained = [r for r in rows if not r["trained_tokens"]]
    if untrained:
        print(safe(f"lfgate: warning: {len(untrained)} of {len(rows)} samples shown have no trained token after the "
                   f"label mask (first: {untrained[0]['dataset']} sample {untrained[0]['sample']}): they teach "
                   "nothing"), file=sys.stderr)
    count = _device_count(args)
    if args.format == "json":
        from lfgate.jsonio import write_json

        write_json(safe_tree(rows), sys.stdout)  # escaped and redacted like every report
        return 0
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for row in rows:
        before = row["tokens_before_cutoff"]
        cut = f", {before} before cutoff_len" if before is not None and before > row["tokens"] else ""
        print(safe(f"── {row['dataset']} sample {row['sample']}: {row['tokens']} tokens{cut}, {row['trained_tokens']} "
                   f"trained (template {config.values.get('template')}, cutoff_len {config.get('cutoff_len', 2048)})"))
        print(render_spans(tokenizer, row["input_ids"], row["labels"], color))
        print()
    print(f"run shape: {count.describe()}, per_device_train_batch_size {config.get('per_device_train_batch_size', 8)}")
    return 0


def _device_count(args):
    """The run's devices as `lfgate train` counts them (devices_env.py), without probing for devices."""
    from lfgate.devices_env import device_count
    from lfgate.settings import Settings

    try:
        from lfgate import config_file

        settings = config_file.load_settings()
    except Exception:  # a broken config file is `check`'s business; preview still shows the samples
        settings = Settings()
    if args.devices:
        settings.devices, settings.devices_from = args.devices, "--devices"
    return device_count(settings)


def spans(input_ids, labels):
    """Runs of consecutive tokens that are all trained or all masked: [(trained, [ids])]."""
    out = []
    for token, label in zip(input_ids, labels):
        trained = label != -100
        if out and out[-1][0] == trained:
            out[-1][1].append(token)
        else:
            out.append((trained, [token]))
    return out


def render_spans(tokenizer, input_ids, labels, color: bool) -> str:
    parts = []
    for trained, ids in spans(input_ids, labels):
        # the data's own ESC, OSC and bidi sequences are shown escaped; only our colour codes reach the terminal
        text = safe(tokenizer.decode(ids, skip_special_tokens=False), keep_lines=True)
        if color:
            parts.append(f"\x1b[32m{text}\x1b[0m" if trained else f"\x1b[2m{text}\x1b[0m")
        else:
            parts.append(f"[[{text}]]" if trained else text)
    return "".join(parts)
