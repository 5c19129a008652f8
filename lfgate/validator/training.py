"""Training YAMLs: read them as LLaMA-Factory does, recognise what they are for, and check every key at once.

``llamafactory-cli train x.yaml k=v`` merges the YAML with the overrides (OmegaConf), hands the dict to
HfArgumentParser.parse_dict (no type conversion; unknown keys fail only after every dataclass is built) and then
runs the checks of ``get_train_args`` one at a time. Here every rule runs, and each finding points at its key.

Rules: TY0xx the file itself, TY1xx keys, TY2xx values and what LLaMA-Factory never checks, TY3xx the checks
of LLaMA-Factory's own argument parsing (``../shared/spec/llamafactory-0.9.5-train-checks.md``, rows A*/B*/C*).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

from lfgate.lf_facts import (
    did_you_mean as _closest,
    env_enabled as _env,
    json_type as _json_type,
    split_names as _names,
)
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator import history, ignored, train_schema

COMMAND_LINE = "<command line>"

# A YAML is a LLaMA-Factory config when it names one of these (accelerate/DeepSpeed/token files do not).
CONFIG_MARKERS = frozenset({"model_name_or_path", "stage", "finetuning_type", "dataset", "template", "do_train",
                            "adapter_name_or_path", "export_dir"})
# The v1 engine (USE_V1=1) has its own parser and keys (examples/v1).
V1_MARKERS = frozenset({"model_class", "peft_config", "train_dataset", "dist_config", "kernel_config",
                        "micro_batch_size", "sample_backend"})
TRAINING_MARKERS = frozenset({"stage", "do_train", "do_eval", "do_predict", "dataset", "eval_dataset", "output_dir"})
# Keys LLaMA-Factory splits on commas (split_arg): a YAML list works as well.
COMMA_LIST_KEYS = frozenset({"dataset", "eval_dataset", "interleave_probs", "lora_target", "oft_target",
                             "additional_target", "freeze_trainable_modules", "freeze_extra_modules",
                             "galore_target", "apollo_target"})
# Read only by chat/api/export (ModelArguments' Export/Vllm/SGLang groups): training accepts and ignores them.
INFER_ONLY_OWNERS = frozenset({"ExportArguments", "VllmArguments", "SGLangArguments"})
INFER_ONLY_KEYS = frozenset({"infer_dtype"})

_LINE_RE = re.compile(r"^\s*(?:-\s+)?(model_name_or_path|stage|finetuning_type|dataset|template|do_train)\s*:", re.M)

BASE = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
        "template: qwen\noutput_dir: saves/qwen2.5-0.5b/lora/sft\n")


def _y(extra: str = "", base: str = BASE) -> Dict[str, str]:
    """An example train.yaml: base with extra's lines; a key in both keeps extra's value at base's line."""
    lines = base.splitlines()
    keys = [line.split(":")[0] for line in lines]
    for line in extra.splitlines():
        key = line.split(":")[0]
        if key in keys and not line.startswith((" ", "-", "?", ":")):
            lines[keys.index(key)] = line
        else:
            lines.append(line)
            keys.append(key)
    return {"train.yaml": "\n".join(lines) + "\n"}


# ----------------------------------------------------------------------------------------------------------------
# The config
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class TrainingConfig:
    path: str
    base_dir: str
    values: Dict[str, Any]
    positions: Dict[str, tuple] = field(default_factory=dict)  # top-level key -> (line, column)
    engine: str = "v0"  # v0 (llamafactory-cli train), v1 (USE_V1=1), mca (USE_MCA=1), megatron_bridge
    entry: str = "train"  # train, infer (chat/api), export
    overrides: FrozenSet[str] = frozenset()  # keys set on the command line
    diagnostics: List = field(default_factory=list)

    def where(self, *keys: str) -> dict:
        """file/line/column of the first of keys the config sets. A key set on the command line wins: a cross-key
        finding that an override causes points at the command line."""
        if any(key in self.overrides for key in keys):
            return {"file": COMMAND_LINE}
        for key in keys:
            if key in self.positions:
                line, column = self.positions[key]
                return {"file": self.path, "line": line, "column": column}
        return {"file": self.path}

    def get(self, key: str, default: Any = None) -> Any:
        """The value LLaMA-Factory sees: the config's, else the schema's default."""
        if key in self.values:
            return self.values[key]
        prop = train_schema.properties().get(key)
        return prop.get("default", default) if prop else default

    def candidates(self, path: str) -> List[str]:
        """Where a relative path from the config may be: LLaMA-Factory resolves it against the directory it is
        launched from, which is the project folder checked or, failing that, the current directory."""
        if os.path.isabs(path):
            return [path]
        found = []
        for base in (self.base_dir, os.getcwd()):
            candidate = os.path.normpath(os.path.join(base, path))
            if candidate not in found:
                found.append(candidate)
        return found

    def resolve(self, path: str) -> str:
        """The first candidate that exists, else the first one."""
        options = self.candidates(path)
        return next((p for p in options if os.path.exists(p)), options[0])

    @property
    def stage(self) -> str:
        return self.get("stage", "sft")


# ----------------------------------------------------------------------------------------------------------------
# TY0xx: the file
# ----------------------------------------------------------------------------------------------------------------
YAML_SYNTAX = rule(
    "TY001", "yaml-syntax", ERROR, "The training YAML cannot be read",
    why="LLaMA-Factory loads the config with OmegaConf; a syntax error, several documents (`---`) or a file that "
        "is not UTF-8 stops `llamafactory-cli` before anything else.",
    fix="Fix the YAML at the reported line; keep one document per config file.",
    bad={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: [sft\n"},
    good=_y("dataset: alpaca_en_demo\n"), target="train.yaml",
)
DUPLICATE_KEY = rule(
    "TY002", "duplicate-key", ERROR, "A key is given twice",
    why="OmegaConf refuses duplicate keys (`found duplicate key`); other loaders silently keep the last one, so "
        "the config means different things to different tools.",
    fix="Keep one of the two lines.",
    bad={"train.yaml": BASE + "learning_rate: 1.0e-4\nlearning_rate: 2.0e-5\n"}, good=_y("learning_rate: 1.0e-4\n"),
    target="train.yaml",
)
YAML_TAG = rule(
    "TY003", "yaml-tag", ERROR, "A YAML tag LLaMA-Factory's loader cannot construct",
    why="OmegaConf's loader is a SafeLoader: `!!python/...` and custom tags raise `could not determine a "
        "constructor`. lfgate never builds objects from tags.",
    fix="Write the plain value without the tag.",
    bad=_y("learning_rate: !!python/float 1.0e-4\n"), good=_y("learning_rate: 1.0e-4\n"), target="train.yaml",
)
ALIAS_LIMIT = rule(
    "TY004", "alias-expansion", ERROR, "Aliases expand without bound or refer to themselves",
    why="An alias bomb (anchors nesting anchors) expands to billions of values and exhausts memory; a recursive "
        "alias cannot be expanded at all.",
    fix="Write the values out, or use fewer nested aliases.",
    bad=_y("a: &a [1, 2]\nb: &b [*a, *b]\n"), good=_y("a: &a [1, 2]\nb: [*a]\n"), target="train.yaml",
)
BAD_INTERPOLATION = rule(
    "TY005", "bad-interpolation", ERROR, "A malformed `${...}` interpolation",
    why="OmegaConf parses `${...}` when it loads the file; unbalanced braces raise GrammarParseError.",
    fix="Close the `${` or quote the text differently; LLaMA-Factory does not resolve interpolations anyway.",
    bad=_y("run_name: ${oc.env:USER\n"), good=_y("run_name: my-run\n"), target="train.yaml",
)
BAD_KEY = rule(
    "TY006", "complex-key", ERROR, "A key that is a list or mapping",
    why="OmegaConf raises `found unhashable key`; HfArgumentParser only takes names.",
    fix="Use a plain key name.",
    bad=_y("? [a, b]\n: 1\n"), good=_y(""),
    target="train.yaml",
)
ENGINE_INFO = rule(
    "TY007", "other-engine", INFO, "The config is for another LLaMA-Factory engine",
    why="`examples/v1` configs run with USE_V1=1 (their own parser), Megatron configs with USE_MCA=1 "
        "(mcore_adapter's arguments) or USE_MEGATRON_BRIDGE=1. Their own keys are not LLaMA-Factory's.",
    fix="Launch with the environment variable named in the message.",
    bad={"train.yaml": "model: Qwen/Qwen3-4B\nmodel_class: llm\ntrain_dataset: data/v1_sft_demo.yaml\n"},
    good=_y("dataset: alpaca_en_demo\n"), target="train.yaml",
)

_PROBLEM_RULES = {"syntax": YAML_SYNTAX, "multi-document": YAML_SYNTAX, "too-large": YAML_SYNTAX,
                  "duplicate-key": DUPLICATE_KEY, "tag": YAML_TAG, "alias-limit": ALIAS_LIMIT,
                  "recursive-alias": ALIAS_LIMIT, "interpolation": BAD_INTERPOLATION, "bad-key": BAD_KEY,
                  "huge-number": YAML_SYNTAX}
_PROBLEM_TEXT = {
    "multi-document": "the file holds several YAML documents (`---`); OmegaConf expects one",
    "duplicate-key": "{m}; OmegaConf refuses duplicate keys: keep one",
    "tag": "{m}; write the plain value",
    "alias-limit": "{m}; write the values out",
    "recursive-alias": "{m}; it cannot be expanded",
    "interpolation": "{m}; OmegaConf fails to load it",
    "bad-key": "{m}",
    "syntax": "YAML syntax error: {m}",
    "too-large": "{m}: a training config is small and flat",
}


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------
def known_keys() -> FrozenSet[str]:
    """Every key name LLaMA-Factory's engines read (discovery weighs a YAML's keys against them)."""
    return frozenset(train_schema.properties()) | CONFIG_MARKERS | V1_MARKERS


def load_config(path: str, base_dir: str, settings, named: bool = False) -> Optional[TrainingConfig]:
    """Read one YAML; None when it is not a LLaMA-Factory config (accelerate, DeepSpeed, token lists...).
    A file named on the command line that cannot be read is reported, never passed over."""
    from lfgate.readers import yaml_reader  # PyYAML: only when there is a YAML file to read

    doc = yaml_reader.load_file(path)
    problems = [(p, _PROBLEM_RULES[p.kind]) for p in doc.problems if p.kind in _PROBLEM_RULES]
    keys_at: Dict[Optional[int], Any] = {line: key[0] for key, (line, _) in doc.key_positions.items() if len(key) == 1}
    diagnostics = [r.diag(_key_prefix(keys_at.get(p.line), p.kind) + _PROBLEM_TEXT.get(p.kind, "{m}").format(
        m=p.message), file=path, line=p.line, column=p.column) for p, r in problems]
    if not doc.readable or not isinstance(doc.value, dict):
        if not _looks_like_config(path) and not (named and not doc.readable):
            return None
        if doc.readable:  # a list or scalar holding config keys: LLaMA-Factory's parse_dict needs a mapping
            diagnostics.append(YAML_SYNTAX.diag(
                f"the top level is a {type(doc.value).__name__}, not a mapping: write the config as `key: value` "
                "lines without a leading `- `.", file=path, line=1, column=1))
        return TrainingConfig(path=path, base_dir=base_dir, values={}, diagnostics=diagnostics)
    values = dict(doc.value)
    keys = {k for k in values if isinstance(k, str)}
    engine = _engine(keys)
    if engine is None:
        return None
    positions = {k[0]: v for k, v in doc.key_positions.items() if len(k) == 1}
    config = TrainingConfig(path=path, base_dir=base_dir, values=values, positions=positions, engine=engine)
    config.diagnostics = diagnostics
    _apply_overrides(config, getattr(settings, "overrides", None) or {})
    config.entry = _entry(config)
    if engine == "v1":
        config.diagnostics.append(ENGINE_INFO.diag(
            "a LLaMA-Factory v1 config (model/model_class/train_dataset...): run it with USE_V1=1 "
            "(`USE_V1=1 llamafactory-cli train ...`); lfgate checks it against v1's own arguments", file=path))
        from lfgate.validator import v1  # v1's keys, dataset list and message format

        config.diagnostics.extend(v1.check(config, settings))
        return config
    if engine in _ENGINE_TEXT:
        config.diagnostics.append(ENGINE_INFO.diag(_ENGINE_TEXT[engine], file=path))
    if config.entry == "eval":
        config.diagnostics.append(_eval_entry(path, settings))
    overrides = getattr(settings, "overrides", None) or {}
    for found in check_config(config, settings):
        if found.file == COMMAND_LINE:  # say which key=value caused it
            named = [f"{k}={v}" for k, v in overrides.items() if f"`{k.split('.')[0]}" in found.message]
            named = named or [f"{k}={v}" for k, v in overrides.items()]
            found = found.at(message=f"{found.message} (command line: {' '.join(named)})")
        config.diagnostics.append(found)
    return config


_ENGINE_TEXT = {
    "mca": "a Megatron-Core config (mcore_adapter keys such as tensor_model_parallel_size): launch it with "
           "USE_MCA=1; lfgate checks its LLaMA-Factory keys and leaves mcore_adapter's alone",
    "megatron_bridge": "a Megatron-Bridge config (use_packed_sequences, mixed_precision...): launch it with "
                       "USE_MEGATRON_BRIDGE=1 (LLaMA-Factory's main branch; no release has it yet)",
}


def _eval_entry(path: str, settings):
    """`llamafactory-cli eval` (MMLU/C-Eval/CMMLU): launcher.py raises NotImplementedError since 0.9.4."""
    version, source = train_schema.target_version(settings)
    if train_schema.version_tuple(version) >= (0, 9, 4):
        return ENGINE_INFO.diag(
            f"a `llamafactory-cli eval` config (task, n_shot...): LLaMA-Factory {train_schema.version_name(version)} "
            f"({source}) raises `Evaluation will be deprecated in the future.` for `eval` (since 0.9.4); it runs "
            "with 0.9.3 or older", severity=WARNING, file=path)
    return ENGINE_INFO.diag("a `llamafactory-cli eval` config (task, n_shot...): checked as `eval` reads it",
                            file=path)


def _key_prefix(key, kind: str) -> str:
    """Name the top-level key a problem sits on (a tag or interpolation in `learning_rate: ...`)."""
    return f"`{key}`: " if key is not None and kind not in ("duplicate-key", "syntax", "multi-document") else ""


def _looks_like_config(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return bool(_LINE_RE.search(f.read(1_000_000)))
    except OSError:
        return False


def _engine(keys) -> Optional[str]:
    schema = train_schema.train_schema()
    props = schema["properties"]
    if _env("USE_V1") or ("model" in keys and "model_name_or_path" not in keys and keys & V1_MARKERS):
        return "v1"
    if not keys & CONFIG_MARKERS:
        return None
    bridge_only = {k for k in keys if props.get(k, {}).get("x-engine") == "megatron_bridge"} - set(schema["x-mca-keys"])
    if _env("USE_MEGATRON_BRIDGE") or bridge_only:
        return "megatron_bridge"
    if _env("USE_MCA") or keys & set(schema["x-mca-keys"]):
        return "mca"
    return "v0"


def _entry(config: TrainingConfig) -> str:
    keys = set(config.values)
    if "export_dir" in keys and not config.values.get("do_train"):
        return "export"
    if keys & _eval_only_keys() and not keys & TRAINING_MARKERS:  # `llamafactory-cli eval` (task, n_shot...)
        return "eval"
    if keys & TRAINING_MARKERS or any(train_schema.properties().get(k, {}).get("x-class") == "TrainingArguments"
                                      for k in keys):
        return "train"
    return "infer"


def _eval_only_keys() -> FrozenSet[str]:
    return frozenset(k for k, p in train_schema.properties().items() if p.get("x-entry-points") == ["eval"])


def _apply_overrides(config: TrainingConfig, overrides: Dict[str, str]) -> None:
    from lfgate.overrides import apply_overrides, top_level_keys

    apply_overrides(config.values, overrides)
    config.overrides = top_level_keys(overrides)


# ----------------------------------------------------------------------------------------------------------------
# TY1xx: keys
# ----------------------------------------------------------------------------------------------------------------
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
        if _env("ALLOW_EXTRA_ARGS") and found.severity == ERROR:
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
            if since and train_schema.version_tuple(since) > target:
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
        elif history.removed_finding(key, where) is not None:
            yield history.removed_finding(key, where)
        else:
            hint = _closest(key, props)
            yield UNKNOWN_KEY.diag(f"`{key}` is not a LLaMA-Factory {train_schema.version_name(version)} key: the "
                                   "parser rejects the config (`Some keys are not used by the HfArgumentParser`)."
                                   f"{hint}", **where)


def _megatron_like(key: str) -> bool:
    return bool(re.search(r"parallel|fusion|recompute|moe_|overlap|distributed_optimizer|megatron|pipeline|"
                          r"virtual_|sequence_|context_|expert_|num_layers", key))


# ----------------------------------------------------------------------------------------------------------------
# TY2xx: values
# ----------------------------------------------------------------------------------------------------------------
WRONG_TYPE = rule(
    "TY201", "wrong-type", ERROR, "A value of the wrong type",
    why="LLaMA-Factory passes YAML values on unconverted: a quoted number stays text and fails later in the "
        "optimizer or scheduler; a quoted `\"false\"` is a non-empty string, which Python treats as true. `0`/`1` "
        "for a boolean key works (every use is a truth test): only an info.",
    fix="Write numbers and booleans unquoted (`learning_rate: 1.0e-4`, `bf16: true`).",
    bad=_y("learning_rate: \"1e-4\"\n"), good=_y("learning_rate: 1e-4\n"), target="train.yaml",
)
BAD_CHOICE = rule(
    "TY202", "invalid-choice", ERROR, "A value that is not one of the allowed choices",
    why="transformers converts lr_scheduler_type, optim and the strategies to enums and raises on a typo; "
        "an unknown stage fails at dispatch (`Unknown task`), an unknown finetuning_type fails an assert. Other "
        "choices are not checked by LLaMA-Factory and silently fall back (reported as warnings).",
    fix="Use one of the values the message lists.",
    bad=_y("lr_scheduler_type: cosin\n"), good=_y("lr_scheduler_type: cosine\n"), target="train.yaml",
)
UNKNOWN_TEMPLATE = rule(
    "TY203", "unknown-template", ERROR, "A template LLaMA-Factory does not register",
    why="After the tokenizer loads, LLaMA-Factory raises `Template {name} does not exist.`",
    fix="Use a registered template; the message lists the closest names.",
    bad=_y("", base=BASE.replace("template: qwen\n", "template: qwen2.5\n")), good=_y(""), target="train.yaml",
)
NO_DO_TRAIN = rule(
    "TY210", "no-do-train", WARNING, "A training config without `do_train`",
    why="`do_train` defaults to false: the model and data load, and nothing is trained or saved.",
    fix="Add `do_train: true` (or do_eval/do_predict for an evaluation-only run).",
    bad=_y("", base=BASE.replace("do_train: true\n", "")), good=_y(""), target="train.yaml",
)
MAX_SAMPLES = rule(
    "TY211", "max-samples-not-positive", ERROR, "`max_samples` is zero or negative",
    why="LLaMA-Factory keeps `max_samples` samples per dataset: 0 or less leaves nothing to train on.",
    fix="Give a positive number, or delete the key to use every sample.",
    bad=_y("max_samples: 0\n"), good=_y("max_samples: 1000\n"), target="train.yaml",
)
DEEPSPEED_FILE = rule(
    "TY212", "deepspeed-config", ERROR, "The `deepspeed` config file is missing or not valid JSON",
    why="transformers fails at start-up: `Expected a string path to an existing deepspeed config`, or a JSON "
        "error. The path is resolved against the directory llamafactory-cli is launched from.",
    fix="Point `deepspeed` at an existing JSON file (e.g. examples/deepspeed/ds_z3_config.json).",
    bad=_y("deepspeed: ds_z3.json\n"),
    good={**_y("deepspeed: ds_z3.json\n"), "ds_z3.json": '{"zero_optimization": {"stage": 3}}'},
    target="train.yaml",
)
LEARNING_RATE = rule(
    "TY213", "learning-rate-range", WARNING, "A learning rate outside any sensible range",
    why="Fine-tuning learning rates lie between about 1e-7 and 1e-2; `1e4` or `0` is a typo (a missing minus "
        "sign) that diverges or trains nothing.",
    fix="Use a value such as 1.0e-4 (LoRA) or 1.0e-5 (full fine-tuning).",
    bad=_y("learning_rate: 1.0e+4\n"), good=_y("learning_rate: 1.0e-4\n"), target="train.yaml",
)
OUTPUT_DIR_MODEL = rule(
    "TY214", "output-dir-names-other-model", WARNING, "`output_dir` names another model",
    why="A config copied from another model keeps its output_dir: the run then writes a Qwen adapter into a "
        "folder named after Llama (or overwrites that run).",
    fix="Rename output_dir after the model you train.",
    bad=_y("", base=BASE.replace("output_dir: saves/qwen2.5-0.5b", "output_dir: saves/llama3-8b")),
    good=_y(""), target="train.yaml",
)
NO_TEMPLATE = rule(
    "TY204", "no-template", WARNING, "A chat-stage config without `template`",
    why="Without `template` LLaMA-Factory uses the tokenizer's own chat template if it has one, else the `empty` "
        "template: the model is then trained on a format that may not be the one it is prompted with.",
    fix="Set `template` to the model's template (e.g. qwen, llama3, qwen3_nothink).",
    bad=_y("dataset: a\n", base=BASE.replace("template: qwen\n", "")), good=_y("dataset: a\n"), target="train.yaml",
)
CUTOFF_LEN = rule(
    "TY216", "cutoff-len-not-positive", ERROR, "`cutoff_len` is zero or negative",
    why="Every sample is cut to cutoff_len tokens: 0 or less leaves nothing to train on.",
    fix="Use a positive length such as 2048.",
    bad=_y("dataset: a\ncutoff_len: 0\n"), good=_y("dataset: a\ncutoff_len: 2048\n"), target="train.yaml",
)
DEPRECATED_KEY = rule(
    "TY215", "deprecated-key", INFO, "A key transformers deprecates",
    why="transformers 5 logs `warmup_ratio is deprecated` / `logging_dir is deprecated`; the keys still work "
        "with the transformers versions LLaMA-Factory 0.9.5 supports.",
    fix="Use warmup_steps (a float below 1 is a ratio) / the TENSORBOARD_LOGGING_DIR variable.",
    bad=_y("warmup_ratio: 0.1\n"), good=_y("warmup_steps: 0.1\n"), target="train.yaml",
)

_WORD_NUMBERS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty",
                 "hundred", "thousand", "million", "none", "null", "true", "false"}


def _type_message(key: str, value: Any, types: List[str]) -> str:
    want = " or ".join(t for t in types if t != "null")
    if isinstance(value, str) and {"number", "integer", "boolean"} & set(types):
        text = value.strip()
        try:
            float(text.replace("_", ""))
            return (f"`{key}` is the text {value!r}, not a number: LLaMA-Factory passes it on unconverted and it fails "
                    f"later. Write it unquoted ({key}: {text})")
        except ValueError:
            pass
        if text.lower() in ("true", "false", "yes", "no", "on", "off") and "boolean" in types:
            return (f"`{key}` is the text {value!r}, which Python treats as true: write {text.lower() in ('true', 'yes', 'on') and 'true' or 'false'} "
                    "without quotes")
        if any(word in text.lower().split() for word in _WORD_NUMBERS) or text.lower() in _WORD_NUMBERS:
            return f"`{key}` is a number written as a word ({value!r}): write digits"
    shown = repr(value) if not isinstance(value, (dict, list)) else _json_type(value)
    return f"`{key}` must be {want}, got {shown} ({_json_type(value)})"


def check_values(config: TrainingConfig, settings) -> Iterator:
    props = train_schema.properties()
    for key, value in config.values.items():
        prop = props.get(key) if isinstance(key, str) else None
        if prop is None:
            continue
        where = config.where(key)
        types = prop["type"]
        kind = _json_type(value)
        if key in COMMA_LIST_KEYS and kind == "array":
            kind = "string"
        if kind == "integer" and "number" in types:
            kind = "number"
        if kind in ("integer", "number") and value in (0, 1) and types == ["boolean"]:
            # parse_dict hands 0/1 on unconverted and every use is a truth test: it works (checked on 0.9.5).
            yield WRONG_TYPE.diag(f"`{key}: {value}` is a number, not a boolean; LLaMA-Factory only tests its truth, "
                                  f"so it works as {'true' if value else 'false'}. Write "
                                  f"{'true' if value else 'false'}", severity=INFO, **where)
            continue
        if kind not in types and not (kind == "null" and "boolean" in types):
            # A number where free text is expected (run_name: 123) rarely breaks anything: a warning.
            lenient = kind in ("integer", "number") and set(types) <= {"string", "null"} and key not in (
                "template", "dataset", "eval_dataset", "model_name_or_path", "stage", "finetuning_type")
            yield WRONG_TYPE.diag(_type_message(key, value, types), severity=WARNING if lenient else None, **where)
            continue
        if key == "template":
            continue  # checked against the template registry below
        enum = prop.get("enum")
        if key == "quantization_method" and config.values.get("quantization_bit") is not None:
            continue  # TY220 (validator/ignored.py) says what the run then does
        if enum and isinstance(value, str) and value not in enum:
            choices = [c for c in enum if c is not None]
            hint = _closest(value, choices)
            enforced = prop.get("x-enum-enforced") or key == "stage"
            consequence = ("LLaMA-Factory raises" if enforced else
                           "LLaMA-Factory does not check it and will not do what you meant")
            yield BAD_CHOICE.diag(f"`{key}: {value}` is not one of {', '.join(choices)}; {consequence}.{hint}",
                                  severity=None if enforced else WARNING, **where)
    template = config.values.get("template")
    if isinstance(template, str):
        known = train_schema.templates()["templates"]
        since = known.get(template, {}).get("since")
        version, source = train_schema.target_version(settings)
        if since and train_schema.version_tuple(since) > train_schema.version_tuple(version):
            yield UNKNOWN_TEMPLATE.diag(f"template `{template}` needs LLaMA-Factory {train_schema.version_name(since)} "
                                        f"or newer; the target is {train_schema.version_name(version)} ({source}), "
                                        f"where `Template {template} does not exist.`",
                                        **config.where("template"))
        elif template not in known:
            hint = _closest(template, known) or f" Registered: {', '.join(sorted(known)[:12])}, ..."
            yield UNKNOWN_TEMPLATE.diag(f"template `{template}` does not exist in LLaMA-Factory "
                                        f"(`Template {template} does not exist.`).{hint}", **config.where("template"))


def check_unchecked(config: TrainingConfig, settings) -> Iterator:
    """What LLaMA-Factory never checks but users get wrong."""
    v = config.values
    if config.entry == "train" and not any(v.get(k) for k in ("do_train", "do_eval", "do_predict")) \
            and v.get("eval_strategy", "no") in ("no", None):
        yield NO_DO_TRAIN.diag("no `do_train: true`: the model and data load, and nothing trains or is saved. "
                               "Add `do_train: true`", **config.where("stage", "model_name_or_path"))
    max_samples = v.get("max_samples")
    if isinstance(max_samples, int) and not isinstance(max_samples, bool) and max_samples <= 0:
        yield MAX_SAMPLES.diag(f"`max_samples: {max_samples}` keeps no sample: give a positive number or delete it",
                               **config.where("max_samples"))
    deepspeed = v.get("deepspeed")
    if isinstance(deepspeed, str) and deepspeed and not deepspeed.lstrip().startswith("{"):
        resolved = config.resolve(deepspeed)
        if not os.path.isfile(resolved):
            looked = " and ".join(config.candidates(deepspeed))
            yield DEEPSPEED_FILE.diag(f"`deepspeed: {deepspeed}` does not exist (looked at {looked}; relative paths "
                                      "are resolved against the directory llamafactory-cli is launched from)",
                                      **config.where("deepspeed"))
        else:
            try:
                with open(resolved, encoding="utf-8") as f:
                    data = json.load(f)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as err:
                yield DEEPSPEED_FILE.diag(f"`deepspeed: {deepspeed}` is not a valid JSON config ({err}): fix the file",
                                          **config.where("deepspeed"))
    lr = v.get("learning_rate")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and config.entry == "train":
        if lr <= 0 or lr > 1e-2 or lr < 1e-7:
            yield LEARNING_RATE.diag(f"`learning_rate: {lr:g}` is outside 1e-7..1e-2: "
                                     f"{'nothing trains' if lr <= 0 else 'training will likely diverge' if lr > 1e-2 else 'nothing will change'}; "
                                     "typical values are 1.0e-4 (LoRA) and 1.0e-5 (full)", **config.where("learning_rate"))
    other = _output_dir_mismatch(v.get("output_dir"), v.get("model_name_or_path"))
    if other:
        yield OUTPUT_DIR_MODEL.diag(
            f"`output_dir: {v['output_dir']}` names {other[0]}, but `model_name_or_path` is {v['model_name_or_path']} "
            f"({other[1]}): a copied config? Rename output_dir", **config.where("output_dir"))
    if "template" not in v and str(v.get("stage", "sft")) != "pt" and config.engine != "v1":
        yield NO_TEMPLATE.diag("no `template`: LLaMA-Factory falls back to the tokenizer's chat template, or to the "
                               "`empty` template when it has none. Set the model's template",
                               **config.where("stage", "model_name_or_path"))
    cutoff = v.get("cutoff_len")
    if isinstance(cutoff, int) and not isinstance(cutoff, bool) and cutoff <= 0:
        yield CUTOFF_LEN.diag(f"`cutoff_len: {cutoff}` leaves no token of any sample: use a positive length such as "
                              "2048", **config.where("cutoff_len"))
    for key, text in (("warmup_ratio", "use `warmup_steps` (a float below 1 is a ratio of the run)"),
                      ("logging_dir", "set the TENSORBOARD_LOGGING_DIR variable instead")):
        if key in v and v[key] not in (None, 0, 0.0):
            yield DEPRECATED_KEY.diag(f"`{key}` is deprecated in transformers 5 (it still works): {text}",
                                      **config.where(key))


# Model families as they appear in ids and folder names; (pattern, display name). Order: specific first.
_FAMILIES = [
    (r"qwen\d*(?:[._]\d)?(?:[-_]?(?:vl|omni|audio|moe))?", "Qwen"), (r"llama[-_]?\d*", "Llama"),
    (r"mi[sx]tral", "Mistral"), (r"gemma\d*", "Gemma"), (r"phi[-_]?\d", "Phi"), (r"deepseek", "DeepSeek"),
    (r"(?:chat)?glm", "GLM"), (r"baichuan", "Baichuan"), (r"internlm|intern[-_]?vl", "InternLM"),
    (r"\byi\b", "Yi"), (r"falcon", "Falcon"), (r"olmo", "OLMo"), (r"granite", "Granite"), (r"mossvl|moss", "MOSS"),
]


def _families(text: str) -> List[str]:
    low = text.lower()
    return [name for pattern, name in _FAMILIES if re.search(pattern, low)]


def _output_dir_mismatch(output_dir, model) -> Optional[Tuple[str, str]]:
    """(family in output_dir, family of the model) when they share none (a distilled DeepSeek-Qwen is both)."""
    if not isinstance(output_dir, str) or not isinstance(model, str):
        return None
    model_families = _families(model.rstrip("/").split("/")[-1]) or _families(model)
    out_families = _families(output_dir)
    if model_families and out_families and not set(model_families) & set(out_families):
        return out_families[0], model_families[0]
    return None


# ----------------------------------------------------------------------------------------------------------------
# TY3xx: the checks of LLaMA-Factory's own argument parsing, all reported together
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParseCheck:
    rule: Any
    keys: Tuple[str, ...]  # reported at the first of these the config sets; the message names them all
    test: Callable[[_View], bool]
    message: str


class _View:
    """Attribute access to the values LLaMA-Factory sees (config, else default), plus facts derived from them."""

    def __init__(self, config: TrainingConfig):
        self._c = config

    def __getattr__(self, key):
        return self._c.get(key)

    def has(self, key) -> bool:
        return self._c.values.get(key) not in (None, "", [], False)

    @property
    def evaluates(self) -> bool:  # eval_strategy != no turns do_eval on (transformers __post_init__)
        return bool(self.do_eval or self.do_predict or self.predict_with_generate
                    or str(self.eval_strategy or "no") != "no")

    @property
    def zero3(self) -> bool:
        return _deepspeed_stage(self._c) == 3

    @property
    def n_datasets(self) -> int:
        return len(_names(self.dataset))

    @property
    def n_eval_datasets(self) -> int:
        return len(_names(self.eval_dataset))


def _deepspeed_stage(config: TrainingConfig) -> Optional[int]:
    ds = config.values.get("deepspeed")
    data = ds if isinstance(ds, dict) else None
    if isinstance(ds, str) and ds:
        try:
            with open(config.resolve(ds), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
    if isinstance(data, dict):
        stage = (data.get("zero_optimization") or {}).get("stage")
        return stage if isinstance(stage, int) else None
    return None


def _num(x) -> float:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def _lf(code, name, title, keys, test, message, bad, good, severity=ERROR, why=None, fix=None, files=None,
        bad_base=BASE):
    """One check of LLaMA-Factory's parser: its rule (documented by the message it raises) and its test."""
    raised = message.split(": ", 1)[-1]
    r = rule(code, name, severity, title,
             why=why or f"LLaMA-Factory's argument parsing stops the run: {raised}",
             fix=fix or "Change one of the keys the message names.",
             bad={**_y(bad, bad_base), **(files or {})}, good={**_y(good), **(files or {})}, target="train.yaml")
    return ParseCheck(r, keys, test, message)


_ZERO3 = {"ds_z3.json": '{"zero_optimization": {"stage": 3}}'}

PARSE_CHECKS: List[ParseCheck] = [
    _lf("TY301", "missing-model", "`model_name_or_path` is missing", ("model_name_or_path",),
        lambda v: not v.has("model_name_or_path"),
        "`model_name_or_path` is missing: LLaMA-Factory raises `Please provide `model_name_or_path`.`",
        "dataset: a\n", "dataset: a\n", bad_base=BASE.replace("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n", "")),
    _lf("TY302", "pixels-min-max", "Maximum pixels below minimum pixels",
        ("image_max_pixels", "image_min_pixels", "video_max_pixels", "video_min_pixels"),
        lambda v: _num(v.image_max_pixels) < _num(v.image_min_pixels) or _num(v.video_max_pixels) < _num(v.video_min_pixels),
        "`image_max_pixels`/`video_max_pixels` is smaller than its `*_min_pixels`: LLaMA-Factory raises "
        "`cannot be smaller than`. Raise the maximum or lower the minimum",
        "image_max_pixels: 1024\nimage_min_pixels: 4096\n", "image_max_pixels: 4096\nimage_min_pixels: 1024\n"),
    _lf("TY303", "export-quantization-dataset", "`export_quantization_bit` without a calibration dataset",
        ("export_quantization_bit", "export_quantization_dataset"),
        lambda v: v.has("export_quantization_bit") and not v.has("export_quantization_dataset"),
        "`export_quantization_bit` needs `export_quantization_dataset`: LLaMA-Factory raises "
        "`Quantization dataset is necessary for exporting.`", "export_quantization_bit: 4\n", "export_size: 4\n"),
    _lf("TY304", "val-size-without-dataset", "`val_size` without `dataset`", ("val_size", "dataset"),
        lambda v: not v.has("dataset") and _num(v.val_size) > 1e-6,
        "`val_size` needs `dataset`: LLaMA-Factory raises `Cannot specify `val_size` if `dataset` is None.`",
        "val_size: 0.1\n", "dataset: a\nval_size: 0.1\n"),
    _lf("TY305", "val-size-with-eval-dataset", "`val_size` together with `eval_dataset`", ("val_size", "eval_dataset"),
        lambda v: v.has("eval_dataset") and _num(v.val_size) > 1e-6,
        "`val_size` and `eval_dataset` exclude each other: LLaMA-Factory raises `Cannot specify `val_size` if "
        "`eval_dataset` is not None.` Keep one", "dataset: a\neval_dataset: b\nval_size: 0.1\n",
        "dataset: a\neval_dataset: b\n"),
    _lf("TY306", "interleave-probs-concat", "`interleave_probs` with concat mixing", ("interleave_probs", "mix_strategy"),
        lambda v: v.has("interleave_probs") and (v.mix_strategy or "concat") == "concat",
        "`interleave_probs` needs an interleave `mix_strategy` (not `concat`): LLaMA-Factory raises "
        "`interleave_probs` is only valid for interleaved mixing.", "dataset: a,b\ninterleave_probs: 0.5,0.5\n",
        "dataset: a,b\nmix_strategy: interleave_under\ninterleave_probs: 0.5,0.5\n"),
    _lf("TY307", "interleave-probs-length", "`interleave_probs` and `dataset` differ in length",
        ("interleave_probs", "dataset"),
        lambda v: v.has("interleave_probs") and (v.mix_strategy or "concat") != "concat" and (
            (v.n_datasets and len(_names(v.interleave_probs)) != v.n_datasets)
            or (v.n_eval_datasets and len(_names(v.interleave_probs)) != v.n_eval_datasets)),
        "`interleave_probs` needs one probability per name in `dataset` (and `eval_dataset`): LLaMA-Factory "
        "raises `The length of dataset and interleave probs should be identical.`",
        "dataset: a,b\nmix_strategy: interleave_under\ninterleave_probs: 0.5,0.3,0.2\n",
        "dataset: a,b\nmix_strategy: interleave_under\ninterleave_probs: 0.5,0.5\n"),
    _lf("TY308", "streaming-val-size", "Streaming with a fractional `val_size`", ("val_size", "streaming"),
        lambda v: bool(v.streaming) and 1e-6 < _num(v.val_size) < 1,
        "`streaming` needs an integer `val_size` (a sample count): LLaMA-Factory raises `Streaming mode should "
        "have an integer val size.`", "dataset: a\nstreaming: true\nmax_steps: 100\nval_size: 0.1\n",
        "dataset: a\nstreaming: true\nmax_steps: 100\nval_size: 100\n"),
    _lf("TY309", "streaming-max-samples", "Streaming with `max_samples`", ("max_samples", "streaming"),
        lambda v: bool(v.streaming) and v.has("max_samples"),
        "`max_samples` and `streaming` exclude each other: LLaMA-Factory raises `max_samples` is incompatible "
        "with `streaming`.", "dataset: a\nstreaming: true\nmax_steps: 10\nmax_samples: 10\n",
        "dataset: a\nstreaming: true\nmax_steps: 10\n"),
    _lf("TY310", "mask-history-train-on-prompt", "`mask_history` with `train_on_prompt`",
        ("mask_history", "train_on_prompt"), lambda v: bool(v.mask_history) and bool(v.train_on_prompt),
        "`mask_history` and `train_on_prompt` exclude each other: LLaMA-Factory raises `mask_history` is "
        "incompatible with `train_on_prompt`.", "dataset: a\nmask_history: true\ntrain_on_prompt: true\n",
        "dataset: a\nmask_history: true\n"),
    _lf("TY311", "eval-steps-missing", "Step evaluation with no step count", ("eval_strategy", "eval_steps", "logging_steps"),
        lambda v: str(v.eval_strategy) == "steps" and not v.eval_steps and _num(v.logging_steps) <= 0,
        "`eval_strategy: steps` needs `eval_steps` or a positive `logging_steps`: transformers raises "
        "`evaluation strategy steps requires either non-zero --eval_steps or --logging_steps`",
        "dataset: a\nval_size: 0.1\neval_strategy: steps\nlogging_steps: 0\n",
        "dataset: a\nval_size: 0.1\neval_strategy: steps\neval_steps: 50\n"),
    _lf("TY312", "logging-steps-zero", "Step logging with `logging_steps: 0`", ("logging_steps", "logging_strategy"),
        lambda v: str(v.logging_strategy or "steps") == "steps" and v._c.values.get("logging_steps") == 0,
        "`logging_strategy: steps` needs a non-zero `logging_steps`: transformers raises `logging strategy steps "
        "requires non-zero --logging_steps`", "dataset: a\nlogging_steps: 0\n", "dataset: a\nlogging_steps: 10\n"),
    _lf("TY313", "fractional-steps", "A step count above 1 that is not an integer",
        ("logging_steps", "eval_steps", "save_steps"),
        lambda v: any(isinstance(x, float) and x > 1 and x != int(x) and str(strategy) == "steps"
                      for x, strategy in ((v.logging_steps, v.logging_strategy or "steps"),
                                          (v.eval_steps, v.eval_strategy or "no"),
                                          (v.save_steps, v.save_strategy or "steps"))),
        "`logging_steps`/`eval_steps`/`save_steps` above 1 must be whole numbers (below 1 they are ratios) when "
        "their strategy is `steps`: transformers raises `must be an integer if bigger than 1`",
        "dataset: a\nsave_steps: 100.5\n", "dataset: a\nsave_steps: 100\n"),
    _lf("TY352", "torch-empty-cache-steps", "`torch_empty_cache_steps` is not a positive integer",
        ("torch_empty_cache_steps",),
        lambda v: v.torch_empty_cache_steps is not None and not (
            isinstance(v.torch_empty_cache_steps, int) and not isinstance(v.torch_empty_cache_steps, bool)
            and v.torch_empty_cache_steps > 0),
        "`torch_empty_cache_steps` must be a whole number above 0 (or unset): transformers raises "
        "`torch_empty_cache_steps` must be an integer bigger than 0", "dataset: a\ntorch_empty_cache_steps: 0\n",
        "dataset: a\ntorch_empty_cache_steps: 10\n"),
    _lf("TY314", "load-best-model-strategies", "`load_best_model_at_end` with mismatched save and eval strategies",
        ("load_best_model_at_end", "save_strategy", "eval_strategy", "save_steps", "eval_steps"),
        lambda v: bool(v.load_best_model_at_end) and str(v.save_strategy or "steps") != "best" and (
            str(v.save_strategy or "steps") != str(v.eval_strategy or "no")
            or (str(v.eval_strategy) == "steps" and _num(v.eval_steps) >= 1 and _num(v.save_steps) >= 1
                and _num(v.save_steps) % _num(v.eval_steps) != 0)),
        "`load_best_model_at_end` needs `save_strategy` equal to `eval_strategy`, and `save_steps` a multiple of "
        "`eval_steps`: transformers raises `--load_best_model_at_end requires the save and eval strategy to match`",
        "dataset: a\nval_size: 0.1\nload_best_model_at_end: true\neval_strategy: steps\neval_steps: 30\nsave_steps: 100\n",
        "dataset: a\nval_size: 0.1\nload_best_model_at_end: true\neval_strategy: steps\neval_steps: 50\nsave_steps: 100\n"),
    _lf("TY315", "fp16-and-bf16", "`fp16` and `bf16` together", ("bf16", "fp16", "bf16_full_eval", "fp16_full_eval"),
        lambda v: (bool(v.fp16) and bool(v.bf16)) or (bool(v.fp16_full_eval) and bool(v.bf16_full_eval)),
        "`fp16` and `bf16` are both on: transformers raises `At most one of fp16 and bf16 can be True, but not "
        "both`. Keep bf16 on GPUs that support it", "dataset: a\nbf16: true\nfp16: true\n", "dataset: a\nbf16: true\n"),
    _lf("TY316", "scheduler-needs-eval", "A scheduler that needs evaluation, without evaluation",
        ("lr_scheduler_type", "eval_strategy"),
        lambda v: str(v.lr_scheduler_type) in ("reduce_lr_on_plateau", "greedy") and str(v.eval_strategy or "no") == "no",
        "`lr_scheduler_type` reduce_lr_on_plateau/greedy needs an `eval_strategy`: transformers raises "
        "`requires an eval strategy`", "dataset: a\nlr_scheduler_type: reduce_lr_on_plateau\n",
        "dataset: a\nlr_scheduler_type: cosine\n"),
    _lf("TY317", "negative-warmup", "Negative `warmup_steps`", ("warmup_steps",),
        lambda v: isinstance(v.warmup_steps, (int, float)) and v.warmup_steps < 0,
        "`warmup_steps` is negative: transformers raises `warmup_steps must be an integer or a float`",
        "dataset: a\nwarmup_steps: -10\n", "dataset: a\nwarmup_steps: 10\n"),
    _lf("TY318", "prefetch-without-workers", "`dataloader_prefetch_factor` with no worker processes",
        ("dataloader_prefetch_factor", "dataloader_num_workers"),
        lambda v: v.has("dataloader_prefetch_factor") and not _num(v.dataloader_num_workers),
        "`dataloader_prefetch_factor` needs `dataloader_num_workers` > 0: transformers raises `can only be set "
        "when data is loaded in a different process`", "dataset: a\ndataloader_prefetch_factor: 2\n",
        "dataset: a\ndataloader_prefetch_factor: 2\ndataloader_num_workers: 2\n"),
    _lf("TY319", "ref-quantization-bit", "Reference/reward model quantization other than 4 or 8 bits",
        ("ref_model_quantization_bit", "reward_model_quantization_bit"),
        lambda v: any(x not in (None, 4, 8) for x in (v.ref_model_quantization_bit, v.reward_model_quantization_bit)),
        "`ref_model_quantization_bit`/`reward_model_quantization_bit` must be 4 or 8: LLaMA-Factory asserts `We "
        "only accept 4-bit or 8-bit quantization.`", "dataset: a\nref_model_quantization_bit: 2\n",
        "dataset: a\nref_model_quantization_bit: 4\n"),
    _lf("TY320", "ppo-reward-model", "PPO without `reward_model`", ("stage", "reward_model"),
        lambda v: v.stage == "ppo" and not v.has("reward_model"),
        "`stage: ppo` needs `reward_model`: LLaMA-Factory raises `reward_model` is necessary for PPO training.",
        "dataset: a\nstage: ppo\n", "dataset: a\nstage: ppo\nreward_model: saves/rm\n"),
    _lf("TY321", "ppo-lora-reward-full", "A LoRA reward model for Freeze/Full PPO",
        ("reward_model_type", "finetuning_type", "stage"),
        lambda v: v.stage == "ppo" and v.reward_model_type == "lora" and v.finetuning_type != "lora",
        "`reward_model_type: lora` needs `finetuning_type: lora` in PPO: LLaMA-Factory raises `reward_model_type` "
        "cannot be lora for Freeze/Full PPO training.",
        "dataset: a\nstage: ppo\nreward_model: r\nfinetuning_type: full\nreward_model_type: lora\n",
        "dataset: a\nstage: ppo\nreward_model: r\nfinetuning_type: full\nreward_model_type: full\n"),
    _lf("TY322", "dpo-label-smoothing", "`dpo_label_smoothing` with a non-sigmoid loss",
        ("dpo_label_smoothing", "pref_loss", "stage"),
        lambda v: v.stage == "dpo" and (v.pref_loss or "sigmoid") != "sigmoid" and _num(v.dpo_label_smoothing) > 1e-6,
        "`dpo_label_smoothing` works only with `pref_loss: sigmoid`: LLaMA-Factory raises `dpo_label_smoothing` "
        "is only valid for sigmoid loss function.", "dataset: a\nstage: dpo\npref_loss: ipo\ndpo_label_smoothing: 0.1\n",
        "dataset: a\nstage: dpo\npref_loss: sigmoid\ndpo_label_smoothing: 0.1\n"),
    _lf("TY323", "llama-pro-full", "`use_llama_pro` with full fine-tuning", ("use_llama_pro", "finetuning_type"),
        lambda v: bool(v.use_llama_pro) and v.finetuning_type == "full",
        "`use_llama_pro` needs `finetuning_type` freeze or lora: LLaMA-Factory raises `use_llama_pro` is only "
        "valid for Freeze or LoRA training.", "dataset: a\nfinetuning_type: full\nuse_llama_pro: true\n",
        "dataset: a\nfinetuning_type: freeze\nuse_llama_pro: true\n"),
    _lf("TY324", "lora-with-galore", "LoRA with GaLore, APOLLO or BAdam", ("use_galore", "use_apollo", "use_badam", "finetuning_type"),
        lambda v: v.finetuning_type == "lora" and any(bool(x) for x in (v.use_galore, v.use_apollo, v.use_badam)),
        "`finetuning_type: lora` cannot be combined with `use_galore`/`use_apollo`/`use_badam`: LLaMA-Factory "
        "raises `Cannot use LoRA with GaLore, APOLLO or BAdam together.` Use finetuning_type: full",
        "dataset: a\nuse_galore: true\n", "dataset: a\nfinetuning_type: full\nuse_galore: true\n"),
    _lf("TY325", "galore-apollo-badam", "More than one of GaLore, APOLLO, BAdam", ("use_galore", "use_apollo", "use_badam"),
        lambda v: sum(bool(x) for x in (v.use_galore, v.use_apollo, v.use_badam)) > 1,
        "`use_galore`, `use_apollo` and `use_badam` exclude each other: LLaMA-Factory raises `Cannot use GaLore, "
        "APOLLO or BAdam together.`", "dataset: a\nfinetuning_type: full\nuse_galore: true\nuse_badam: true\n",
        "dataset: a\nfinetuning_type: full\nuse_galore: true\n"),
    _lf("TY326", "pissa-stage", "PiSSA with a stage that cannot use it", ("pissa_init", "stage", "pref_loss"),
        lambda v: bool(v.pissa_init) and (v.stage in ("ppo", "kto")
                                          or (v.stage == "dpo" and (v.pref_loss or "sigmoid") not in ("orpo", "simpo"))),
        "`pissa_init` cannot be used with PPO, KTO or DPO with a reference model: LLaMA-Factory raises `Cannot use "
        "PiSSA for current training stage.`", "dataset: a\nstage: kto\npissa_init: true\n",
        "dataset: a\nstage: sft\npissa_init: true\n"),
    _lf("TY327", "lora-only-option", "A LoRA-only option with another finetuning type",
        ("loraplus_lr_ratio", "use_rslora", "use_dora", "pissa_init", "finetuning_type"),
        lambda v: v.finetuning_type != "lora" and (v.has("loraplus_lr_ratio") or any(
            bool(x) for x in (v.use_rslora, v.use_dora, v.pissa_init))),
        "`loraplus_lr_ratio`/`use_rslora`/`use_dora`/`pissa_init` need `finetuning_type: lora`: LLaMA-Factory "
        "raises `is only valid for LoRA training.`", "dataset: a\nfinetuning_type: full\nuse_dora: true\n",
        "dataset: a\nfinetuning_type: lora\nuse_dora: true\n"),
    _lf("TY328", "sft-only-option", "An SFT-only option in another stage",
        ("predict_with_generate", "neat_packing", "train_on_prompt", "mask_history", "stage"),
        lambda v: v.stage != "sft" and any(bool(x) for x in (v.predict_with_generate, v.neat_packing,
                                                              v.train_on_prompt, v.mask_history)),
        "`predict_with_generate`/`neat_packing`/`train_on_prompt`/`mask_history` work only with `stage: sft`: "
        "LLaMA-Factory raises `cannot be set as True except SFT.`", "dataset: a\nstage: pt\nneat_packing: true\n",
        "dataset: a\nstage: sft\nneat_packing: true\n"),
    _lf("TY329", "predict-needs-generate", "`do_predict` without `predict_with_generate`",
        ("do_predict", "predict_with_generate"),
        lambda v: v.stage == "sft" and bool(v.do_predict) and not v.predict_with_generate,
        "`do_predict` in SFT needs `predict_with_generate: true`: LLaMA-Factory raises `Please enable "
        "`predict_with_generate` to save model predictions.`", "eval_dataset: a\ndo_predict: true\n",
        "eval_dataset: a\ndo_predict: true\npredict_with_generate: true\n"),
    _lf("TY330", "load-best-rm-ppo", "`load_best_model_at_end` in RM or PPO", ("load_best_model_at_end", "stage"),
        lambda v: v.stage in ("rm", "ppo") and bool(v.load_best_model_at_end),
        "`load_best_model_at_end` is not supported for `stage: rm/ppo`: LLaMA-Factory raises `RM and PPO stages "
        "do not support `load_best_model_at_end`.`", "dataset: a\nstage: rm\nval_size: 0.1\neval_strategy: steps\neval_steps: 100\nsave_steps: 100\n"
        "load_best_model_at_end: true\n",
        "dataset: a\nstage: rm\n"),
    _lf("TY331", "ppo-without-train", "PPO without `do_train`", ("stage", "do_train"),
        lambda v: v.stage == "ppo" and not v.do_train,
        "`stage: ppo` needs `do_train: true`: LLaMA-Factory raises `PPO training does not support evaluation, use "
        "the SFT stage to evaluate models.`", "dataset: a\nstage: ppo\nreward_model: r\ndo_train: false\n",
        "dataset: a\nstage: ppo\nreward_model: r\n"),
    _lf("TY332", "ppo-shift-attn", "PPO with S^2-Attn", ("shift_attn", "stage"),
        lambda v: v.stage == "ppo" and bool(v.shift_attn),
        "`shift_attn` cannot be used with `stage: ppo`: LLaMA-Factory raises `PPO training is incompatible with "
        "S^2-Attn.`", "dataset: a\nstage: ppo\nreward_model: r\nshift_attn: true\n",
        "dataset: a\nstage: ppo\nreward_model: r\n"),
    _lf("TY333", "ppo-report-to", "PPO with a logger it cannot use", ("report_to", "stage"),
        lambda v: v.stage == "ppo" and any(x not in ("wandb", "tensorboard", "trackio", "none")
                                           for x in (_names(v.report_to) or ["none"])),
        "`stage: ppo` logs only to wandb, tensorboard or trackio (`report_to`): LLaMA-Factory raises `PPO only accepts wandb, "
        "tensorboard, or trackio logger.`", "dataset: a\nstage: ppo\nreward_model: r\nreport_to: mlflow\n",
        "dataset: a\nstage: ppo\nreward_model: r\nreport_to: wandb\n"),
    _lf("TY334", "deepspeed-needs-torchrun", "DeepSpeed needs a distributed launch", ("deepspeed",),
        lambda v: v.has("deepspeed"),
        "`deepspeed` needs a distributed launch: on one GPU start with `FORCE_TORCHRUN=1 llamafactory-cli train "
        "...`, or LLaMA-Factory raises `Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training.`",
        "dataset: a\ndeepspeed: ds.json\n", "dataset: a\n", severity=INFO,
        why="With one visible GPU llamafactory-cli runs in-process, and DeepSpeed then refuses to start.",
        fix="Launch with FORCE_TORCHRUN=1 (automatic on several GPUs)."),
    _lf("TY335", "streaming-max-steps", "Streaming without `max_steps`", ("streaming", "max_steps"),
        lambda v: bool(v.streaming) and _num(v.max_steps) <= 0,
        "`streaming` needs `max_steps` (a streamed dataset has no length): LLaMA-Factory raises `Please specify "
        "`max_steps` in streaming mode.`", "dataset: a\nstreaming: true\n", "dataset: a\nstreaming: true\nmax_steps: 1000\n"),
    _lf("TY336", "train-without-dataset", "`do_train` without `dataset`", ("do_train", "dataset"),
        lambda v: bool(v.do_train) and not v.has("dataset"),
        "`do_train` needs `dataset`: LLaMA-Factory raises `Please specify dataset for training.`",
        "", "dataset: alpaca_en_demo\n"),
    _lf("TY337", "eval-without-data", "Evaluation without evaluation data",
        ("eval_strategy", "do_eval", "do_predict", "predict_with_generate", "val_size", "eval_dataset"),
        lambda v: v.evaluates and not v.has("eval_dataset") and _num(v.val_size) < 1e-6,
        "evaluation is on (`do_eval`/`do_predict`/`predict_with_generate`/`eval_strategy`) but there is no "
        "`eval_dataset` and no `val_size`: LLaMA-Factory raises `Please make sure eval_dataset be provided or "
        "val_size >1e-6`", "dataset: a\neval_strategy: steps\neval_steps: 10\n",
        "dataset: a\nval_size: 0.1\neval_strategy: steps\neval_steps: 10\n"),
    _lf("TY338", "generate-zero3", "`predict_with_generate` with DeepSpeed ZeRO-3", ("predict_with_generate", "deepspeed"),
        lambda v: bool(v.predict_with_generate) and v.zero3,
        "`predict_with_generate` cannot run under DeepSpeed ZeRO-3: LLaMA-Factory raises `predict_with_generate` "
        "is incompatible with DeepSpeed ZeRO-3.", "eval_dataset: a\npredict_with_generate: true\ndeepspeed: ds_z3.json\n",
        "eval_dataset: a\npredict_with_generate: true\n", files=_ZERO3),
    _lf("TY339", "generate-accuracy", "`predict_with_generate` with `compute_accuracy`",
        ("compute_accuracy", "predict_with_generate"), lambda v: bool(v.predict_with_generate) and bool(v.compute_accuracy),
        "`predict_with_generate` and `compute_accuracy` exclude each other: LLaMA-Factory raises `Cannot use "
        "`predict_with_generate` and `compute_accuracy` together.`",
        "dataset: a\nval_size: 0.1\npredict_with_generate: true\ncompute_accuracy: true\n",
        "dataset: a\nval_size: 0.1\ncompute_accuracy: true\n"),
    _lf("TY340", "quantized-device-map", "A device map for quantized training", ("quantization_device_map", "do_train"),
        lambda v: bool(v.do_train) and v.quantization_device_map == "auto",
        "`quantization_device_map: auto` cannot be used for training: LLaMA-Factory raises `Cannot use device map "
        "for quantized models in training.`", "dataset: a\nquantization_bit: 4\nquantization_device_map: auto\n",
        "dataset: a\nquantization_bit: 4\n"),
    _lf("TY341", "pissa-zero3", "PiSSA initialisation under ZeRO-3", ("pissa_init", "deepspeed"),
        lambda v: bool(v.pissa_init) and v.zero3,
        "`pissa_init` under DeepSpeed ZeRO-3: LLaMA-Factory raises `Please use scripts/pissa_init.py to initialize "
        "PiSSA in DeepSpeed ZeRO-3.`", "dataset: a\npissa_init: true\ndeepspeed: ds_z3.json\n", "dataset: a\npissa_init: true\n", files=_ZERO3),
    _lf("TY342", "pure-bf16-zero3", "`pure_bf16` with ZeRO-3", ("pure_bf16", "deepspeed"),
        lambda v: bool(v.pure_bf16) and v.zero3,
        "`pure_bf16` with DeepSpeed ZeRO-3: LLaMA-Factory raises `pure_bf16` is incompatible with DeepSpeed ZeRO-3.",
        "dataset: a\npure_bf16: true\ndeepspeed: ds_z3.json\n", "dataset: a\npure_bf16: true\n", files=_ZERO3),
    _lf("TY343", "deepspeed-galore", "DeepSpeed with GaLore or APOLLO", ("use_galore", "use_apollo", "deepspeed"),
        lambda v: v.has("deepspeed") and (bool(v.use_galore) or bool(v.use_apollo)),
        "`deepspeed` cannot be combined with `use_galore`/`use_apollo`: LLaMA-Factory raises `GaLore and APOLLO "
        "are incompatible with DeepSpeed yet.`", "dataset: a\nfinetuning_type: full\nuse_galore: true\ndeepspeed: ds_z3.json\n",
        "dataset: a\nfinetuning_type: full\nuse_galore: true\n", files=_ZERO3),
    _lf("TY344", "fp8-quantization", "FP8 training with quantization", ("fp8", "quantization_bit"),
        lambda v: bool(v.fp8) and v.has("quantization_bit"),
        "`fp8` and `quantization_bit` exclude each other: LLaMA-Factory raises `FP8 training is not compatible with "
        "quantization.`", "dataset: a\nfp8: true\nquantization_bit: 4\n", "dataset: a\nfp8: true\n"),
    _lf("TY345", "infer-backend-in-training", "A vLLM/SGLang backend in a training config", ("infer_backend",),
        lambda v: str(v.infer_backend or "huggingface") != "huggingface",
        "`infer_backend` other than huggingface in training: LLaMA-Factory raises `vLLM/SGLang backend is only "
        "available for API, CLI and Web.`", "dataset: a\ninfer_backend: vllm\n", "dataset: a\n"),
    _lf("TY346", "unsloth-kt-zero3", "Unsloth or KTransformers with ZeRO-3", ("use_unsloth", "use_kt", "deepspeed"),
        lambda v: (bool(v.use_unsloth) or bool(v.use_kt)) and v.zero3,
        "`use_unsloth`/`use_kt` with DeepSpeed ZeRO-3: LLaMA-Factory raises `is incompatible with DeepSpeed ZeRO-3.`",
        "dataset: a\nuse_unsloth: true\ndeepspeed: ds_z3.json\n", "dataset: a\nuse_unsloth: true\n", files=_ZERO3),
    _lf("TY347", "adapter-not-lora", "An adapter with a finetuning type other than LoRA",
        ("adapter_name_or_path", "finetuning_type"),
        lambda v: v.has("adapter_name_or_path") and v.finetuning_type != "lora",
        "`adapter_name_or_path` needs `finetuning_type: lora`: LLaMA-Factory raises `Adapter is only valid for the "
        "LoRA method.`", "dataset: a\nfinetuning_type: full\nadapter_name_or_path: saves/a\n",
        "dataset: a\nadapter_name_or_path: saves/a\n"),
    _lf("TY348", "quantization-finetuning-type", "Quantization with full or freeze fine-tuning",
        ("quantization_bit", "finetuning_type"),
        lambda v: v.has("quantization_bit") and v.finetuning_type not in ("lora", "oft"),
        "`quantization_bit` works only with `finetuning_type` lora or oft: LLaMA-Factory raises `Quantization is "
        "only compatible with the LoRA or OFT method.`", "dataset: a\nfinetuning_type: full\nquantization_bit: 4\n",
        "dataset: a\nquantization_bit: 4\n"),
    _lf("TY349", "quantization-incompatible", "Quantization with an option it excludes",
        ("pissa_init", "resize_vocab", "create_new_adapter", "adapter_name_or_path", "quantization_bit"),
        lambda v: v.has("quantization_bit") and (bool(v.pissa_init) or bool(v.resize_vocab) or (
            v.has("adapter_name_or_path") and (bool(v.create_new_adapter) or len(_names(v.adapter_name_or_path)) > 1))),
        "`quantization_bit` cannot be combined with `pissa_init`, `resize_vocab`, `create_new_adapter` or several "
        "adapters: LLaMA-Factory raises (e.g. `Cannot resize embedding layers of a quantized model.`)",
        "dataset: a\nquantization_bit: 4\nresize_vocab: true\n", "dataset: a\nquantization_bit: 4\n"),
    _lf("TY350", "trackio-project", "Trackio without `project`", ("report_to", "project"),
        lambda v: "trackio" in _names(v.report_to) and "project" in v._c.values and not v.has("project"),
        "`report_to: trackio` needs a non-empty `project` (its default is huggingface): LLaMA-Factory raises "
        "`--project` must be specified when using Trackio.", "dataset: a\nreport_to: trackio\nproject: ''\n",
        "dataset: a\nreport_to: trackio\nproject: demo\n"),
    _lf("TY351", "train-on-prompt-efficient-eos", "`train_on_prompt` with an efficient-eos template",
        ("train_on_prompt", "template"),
        lambda v: bool(v.train_on_prompt) and bool(
            train_schema.templates()["templates"].get(str(v.template), {}).get("efficient_eos")),
        "`train_on_prompt` is not supported by this template (efficient eos): LLaMA-Factory raises `Current "
        "template does not support `train_on_prompt`.`", "dataset: a\ntrain_on_prompt: true\ntemplate: yi_vl\n",
        "dataset: a\ntrain_on_prompt: true\n"),
]


OUTPUT_DIR_EXISTS = rule(
    "TY360", "output-dir-not-empty", ERROR, "`output_dir` already holds a model",
    why="With weights in output_dir and no checkpoint, LLaMA-Factory raises `Output directory already exists and "
        "is not empty. Please set `overwrite_output_dir`.`",
    fix="Choose a new output_dir, or set `overwrite_output_dir: true`.",
    bad={**_y("dataset: a\n"), "saves/qwen2.5-0.5b/lora/sft/adapter_model.safetensors": "x"},
    good={**_y("dataset: a\noverwrite_output_dir: true\n"), "saves/qwen2.5-0.5b/lora/sft/adapter_model.safetensors": "x"},
    target="train.yaml",
)
RESUMES = rule(
    "TY361", "resumes-from-checkpoint", INFO, "Training will resume from a checkpoint in `output_dir`",
    why="LLaMA-Factory silently resumes from the last `checkpoint-*` folder in output_dir.",
    fix="Change output_dir or set overwrite_output_dir if you want a fresh run.",
    bad={**_y("dataset: a\n"), "saves/qwen2.5-0.5b/lora/sft/checkpoint-100/adapter_model.safetensors": "x"},
    good=_y("dataset: a\n"), target="train.yaml",
)
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json")


def check_output_dir(config: TrainingConfig) -> Iterator:
    v = config.values
    out = v.get("output_dir")
    if not (isinstance(out, str) and out and v.get("do_train") and not v.get("overwrite_output_dir")
            and not v.get("resume_from_checkpoint")):
        return
    folder = config.resolve(out)
    if not os.path.isdir(folder):
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    checkpoints = sorted((n for n in names if re.fullmatch(r"checkpoint-\d+", n)), key=lambda n: int(n.split("-")[1]))
    if checkpoints:
        yield RESUMES.diag(f"training will resume from {os.path.join(out, checkpoints[-1])} (LLaMA-Factory does "
                           "so silently); change `output_dir` or set `overwrite_output_dir` for a fresh run",
                           **config.where("output_dir"))
    elif any(n in names for n in _WEIGHTS):
        yield OUTPUT_DIR_EXISTS.diag(f"`output_dir: {out}` already holds a model ({folder}): LLaMA-Factory raises "
                                     "`Output directory already exists and is not empty.` Set `overwrite_output_dir: "
                                     "true` or choose another folder", **config.where("output_dir"))


# ----------------------------------------------------------------------------------------------------------------
def check_config(config: TrainingConfig, settings) -> List:
    """Every rule over one config, in file order (the reporter sorts)."""
    found = list(check_keys(config, settings))
    found.extend(check_values(config, settings))
    if config.entry == "train":
        found.extend(check_unchecked(config, settings))
        view = _View(config)
        for check in PARSE_CHECKS:
            try:
                hit = check.test(view)
            except (TypeError, ValueError, AttributeError, OverflowError):  # a wrong type is TY201's, .inf TY401's
                hit = False
            if hit:
                found.append(check.rule.diag(check.message, **config.where(*check.keys)))
        found.extend(check_output_dir(config))
        found.extend(ignored.check_ignored(config))
    else:
        if not config.values.get("model_name_or_path"):
            found.append(PARSE_CHECKS[0].rule.diag(PARSE_CHECKS[0].message, file=config.path))
        export_check = next(c for c in PARSE_CHECKS if c.rule.code == "TY303")
        if export_check.test(_View(config)):
            found.append(export_check.rule.diag(export_check.message, **config.where(*export_check.keys)))
    from lfgate.validator import model_files, newest_lf, train_values  # their rules import this module

    found.extend(train_values.check(config, settings))
    found.extend(model_files.check(config, settings))
    found.extend(newest_lf.check(config, settings))
    return found
