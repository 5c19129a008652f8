"""Read a training YAML as LLaMA-Factory does and recognise what it is for (engine, entry point); TY0xx: the
file itself.

``llamafactory-cli train x.yaml k=v`` merges the YAML with the overrides (OmegaConf), hands the dict to
HfArgumentParser.parse_dict (no type conversion; unknown keys fail only after every dataclass is built) and then
runs the checks of ``get_train_args`` one at a time. Here every rule runs, and each finding points at its key.
"""

from __future__ import annotations

import re
from typing import Any, Dict, FrozenSet, Optional

from lfgate.lf_facts import env_enabled
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator import train_schema
from lfgate.validator.training.config import (
    BASE,
    CONFIG_MARKERS,
    TRAINING_MARKERS,
    V1_MARKERS,
    TrainingConfig,
    _y,
)

_LINE_RE = re.compile(r"^\s*(?:-\s+)?(model_name_or_path|stage|finetuning_type|dataset|template|do_train)\s*:", re.M)


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


def known_keys() -> FrozenSet[str]:
    """Every key name LLaMA-Factory's engines read (discovery weighs a YAML's keys against them)."""
    return frozenset(train_schema.properties()) | CONFIG_MARKERS | V1_MARKERS


def load_config(path: str, base_dir: str, settings, named: bool = False) -> Optional[TrainingConfig]:
    """Read one YAML; None when it is not a LLaMA-Factory config (accelerate, DeepSpeed, token lists...).
    A file named on the command line that cannot be read is reported, never passed over. The config's diagnostics
    are the file's own (TY0xx, the engine); ``check_config`` judges its keys and values."""
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
        return TrainingConfig(path=path, base_dir=base_dir, values={}, diagnostics=diagnostics, readable=False)
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
        return config
    if engine in _ENGINE_TEXT:
        config.diagnostics.append(ENGINE_INFO.diag(_ENGINE_TEXT[engine], file=path))
    if config.entry == "eval":
        config.diagnostics.append(_eval_entry(path, settings))
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
    if env_enabled("USE_V1") or ("model" in keys and "model_name_or_path" not in keys and keys & V1_MARKERS):
        return "v1"
    if not keys & CONFIG_MARKERS:
        return None
    bridge_only = {k for k in keys if props.get(k, {}).get("x-engine") == "megatron_bridge"} - set(schema["x-mca-keys"])
    if env_enabled("USE_MEGATRON_BRIDGE") or bridge_only:
        return "megatron_bridge"
    if env_enabled("USE_MCA") or keys & set(schema["x-mca-keys"]):
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
