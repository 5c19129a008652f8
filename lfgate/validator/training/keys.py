"""TY1xx: keys LLaMA-Factory does not know, knows by another name or version, or reads elsewhere."""

from __future__ import annotations

import re
from typing import FrozenSet, Iterator

from lfgate.lf_facts import did_you_mean, env_enabled
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator import train_schema
from lfgate.validator.training import removed_keys
from lfgate.validator.training.config import INFER_ONLY_KEYS, INFER_ONLY_OWNERS, TrainingConfig, _y

UNKNOWN_KEY = rule(
    "TY101", "unknown-key", ERROR, "A key LLaMA-Factory does not know",
    why="HfArgumentParser rejects the whole config: `Some keys are not used by the HfArgumentParser: [...]` "
        "(after every other argument class was built, so it may hide behind another error).",
    fix="Correct the spelling (the message suggests the closest keys) or delete the key.",
    bad=_y("learning_rat: 1.0e-4\n"), good=_y("learning_rate: 1.0e-4\n"), target="train.yaml",
)
REMOVED_KEY = rule(
    "TY102", "transformers5-removed-key", ERROR, "A TrainingArguments key that transformers 5 removed",
    why="LLaMA-Factory 0.9.5 runs with transformers 4.55 to 5.6; with transformers 5 these keys are unknown "
        "and the parser rejects the config.",
    fix="Use the replacement the message names, or delete the key.",
    bad=_y("per_gpu_train_batch_size: 2\n"), good=_y("per_device_train_batch_size: 2\n"), target="train.yaml",
)
RENAMED_KEY = rule(
    "TY103", "renamed-key", ERROR, "A key an older LLaMA-Factory or transformers used",
    why="Renamed keys are unknown to the current parser, which rejects the config.",
    fix="Use the new name the message gives.",
    bad=_y("dpo_beta: 0.1\n"), good=_y("pref_beta: 0.1\n"), target="train.yaml",
)
NEWER_KEY = rule(
    "TY104", "newer-version-key", ERROR, "A key only a newer LLaMA-Factory knows",
    why="The targeted LLaMA-Factory (`--llamafactory-version`, else the installed one) rejects keys added later.",
    fix="Upgrade LLaMA-Factory to the version the message names, or delete the key.",
    bad=_y("kt_cpu_activation: retain\n"), good=_y("use_kt: false\n"), target="train.yaml",
    args=("--llamafactory-version", "0.9.5"),
)
DERIVED_KEY = rule(
    "TY105", "derived-key", ERROR, "A key LLaMA-Factory derives itself",
    why="`compute_dtype`, `device_map`, `model_max_length` and `block_diag_attn` are set by the parser "
        "(init=False); given in YAML they are unknown keys.",
    fix="Delete it: set bf16/fp16, cutoff_len or neat_packing instead.",
    bad=_y("compute_dtype: bfloat16\n"), good=_y("bf16: true\n"), target="train.yaml",
)
INFER_ONLY_KEY = rule(
    "TY106", "inference-only-key", WARNING, "A chat/export key in a training config",
    why="`export_*`, `vllm_*`, `sglang_*` and `infer_dtype` are read by `llamafactory-cli chat/api/export` only; "
        "training accepts and ignores them.",
    fix="Move the key to an inference or export config.",
    bad=_y("export_dir: saves/merged\n"), good=_y(""),
    target="train.yaml",
)
TRAIN_ONLY_KEY = rule(
    "TY107", "training-key-in-inference-config", ERROR, "A training key in a chat/export config",
    why="`llamafactory-cli chat/api/export` parse the config without TrainingArguments: its keys are unknown "
        "there and the config is rejected.",
    fix="Delete the training keys from the inference/export config.",
    bad={"export.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\nexport_dir: merged\n"
                        "learning_rate: 1.0e-4\n"},
    good={"export.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\nexport_dir: merged\n"},
    target="export.yaml",
)
EVAL_ONLY_KEY = rule(
    "TY108", "eval-only-key", ERROR, "A `llamafactory-cli eval` key in a training config",
    why="`task`, `n_shot`, `lang`, `save_dir`... belong to EvaluationArguments, which only the eval entry point "
        "parses; `train` rejects them as unknown.",
    fix="Move them to an eval config.",
    bad=_y("n_shot: 5\n"), good=_y("seed: 5\n"), target="train.yaml",
)


def _installed_transformers():
    """The installed transformers version as a tuple (read from its metadata, never imported), or None."""
    from importlib import metadata

    try:
        text = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def check_keys(config: TrainingConfig, settings) -> Iterator:
    """Key findings; with ALLOW_EXTRA_ARGS=1 LLaMA-Factory ignores unknown keys, so they become warnings."""
    for found in _check_keys(config, settings):
        if env_enabled("ALLOW_EXTRA_ARGS") and found.severity == ERROR:
            found = found.at(severity=WARNING, message=found.message + " (ALLOW_EXTRA_ARGS=1: LLaMA-Factory "
                                                                     "ignores it silently instead)")
        yield found


def _check_keys(config: TrainingConfig, settings) -> Iterator:
    schema = train_schema.train_schema()
    props = schema["properties"]
    removed = schema["x-transformers5-removed"]
    renamed = schema["x-renamed"]
    version, source = train_schema.target_version(settings)
    target = train_schema.version_tuple(version)
    mca_keys = set(schema["x-mca-keys"])
    entry = config.entry
    allowed_entry = entry if entry in ("train", "eval") else "infer"
    declared: FrozenSet[str] = getattr(settings, "checkout_keys", frozenset())  # a vendored checkout's own arguments
    for key in config.values:
        where = config.where(str(key))
        if not isinstance(key, str):
            yield UNKNOWN_KEY.diag(f"`{key}` is not a key name; keys are LLaMA-Factory argument names", **where)
            continue
        prop = props.get(key)
        if prop is not None:
            since = prop.get("x-since")
            engine = prop.get("x-engine")
            if engine == "megatron_bridge" and config.engine == "mca" and key in mca_keys:
                continue  # mcore_adapter's own key
            if since and train_schema.version_tuple(since) > target and key not in declared:
                yield NEWER_KEY.diag(
                    f"`{key}` needs LLaMA-Factory {train_schema.version_name(since)} or newer; the target is "
                    f"{train_schema.version_name(version)} ({source}), which "
                    f"rejects it as unknown. Upgrade, or pass --llamafactory-version if you run a newer one", **where)
                continue
            if allowed_entry not in prop["x-entry-points"]:
                if prop["x-entry-points"] == ["eval"]:
                    yield EVAL_ONLY_KEY.diag(f"`{key}` is read only by `llamafactory-cli eval`; `{entry}` "
                                             f"rejects it as an unknown key", **where)
                else:
                    yield TRAIN_ONLY_KEY.diag(
                        f"`{key}` is a training key; `llamafactory-cli {'export' if entry == 'export' else 'chat'}` "
                        f"rejects it (`Some keys are not used by the HfArgumentParser`): delete it here", **where)
                continue
            if entry == "train" and (prop["x-owning-class"] in INFER_ONLY_OWNERS or key in INFER_ONLY_KEYS):
                yield INFER_ONLY_KEY.diag(f"`{key}` is read only by `llamafactory-cli chat/api/export`; "
                                          "training ignores it: move it to an inference or export config", **where)
            continue
        if config.engine in ("mca", "megatron_bridge") and _megatron_like(key):
            continue  # mcore_adapter / Megatron keys: not LLaMA-Factory's to judge
        if key in declared or removed_keys.still_there(key, target):
            continue  # the target release (a vendored checkout, an older release) has the key
        if key in schema["x-not-settable"]:
            yield DERIVED_KEY.diag(f"`{key}` is derived by LLaMA-Factory (from bf16/fp16, cutoff_len or "
                                   "neat_packing) and cannot be set: delete it", **where)
        elif key in removed["keys"]:
            installed = _installed_transformers()
            still_works = installed is not None and installed < (5,)
            yield REMOVED_KEY.diag(
                f"`{key}` was removed from TrainingArguments in transformers {removed['version']}; with "
                f"transformers 5 LLaMA-Factory rejects it as unknown"
                + (f" (the installed transformers {'.'.join(map(str, installed))} still takes it)" if still_works
                   else "") + f". Use {removed['keys'][key]} instead",
                severity=WARNING if still_works else None, **where)
        elif key in renamed:
            new, since = renamed[key]["key"], renamed[key]["since"]
            yield RENAMED_KEY.diag(f"`{key}` was renamed to `{new}` in {since}: use `{new}`", **where)
        elif removed_keys.removed_finding(key, where) is not None:
            yield removed_keys.removed_finding(key, where)
        else:
            hint = did_you_mean(key, props)
            yield UNKNOWN_KEY.diag(f"`{key}` is not a LLaMA-Factory {train_schema.version_name(version)} key: the "
                                   "parser rejects the config (`Some keys are not used by the HfArgumentParser`)."
                                   f"{hint}", **where)


def _megatron_like(key: str) -> bool:
    return bool(re.search(r"parallel|fusion|recompute|moe_|overlap|distributed_optimizer|megatron|pipeline|"
                          r"virtual_|sequence_|context_|expert_|num_layers", key))
