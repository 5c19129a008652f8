"""Read a training YAML as LLaMA-Factory does and recognise what it is for (engine, entry point); TY0xx: the
file itself.

``llamafactory-cli train x.yaml k=v`` merges the YAML with the overrides (OmegaConf), hands the dict to
HfArgumentParser.parse_dict (no type conversion; unknown keys fail only after every dataclass is built) and then
runs the checks of ``get_train_args`` one at a time. Here every rule runs, and each finding points at its key.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from lfgate.lf_facts import env_enabled
from lfgate.readers import guarded
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.sanitize import remember_secrets
from lfgate.validator import train_schema
from lfgate.validator.training.config import (
    BASE,
    CONFIG_MARKERS,
    TRAINING_MARKERS,
    V1_MARKERS,
    TrainingConfig,
    _y,
)

_LINE_RE = re.compile(r"^\s*(?:-\s+)?[\"']?(model_name_or_path|stage|finetuning_type|dataset|template|do_train)"
                      r"[\"']?\s*:", re.M)
MAX_CONFIG_BYTES = 256 * 1024  # discovery.MAX_CONFIG_BYTES: nothing bigger is parsed as a config


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
TEMPLATE = rule(
    "TY014", "template-config", INFO, "A config template: placeholders a renderer fills in before launch",
    why="A YAML rendered by envsubst or a launch script (`dataset_dir: ${SCRIPT_DIR}/data`, where no key of the "
        "config is called SCRIPT_DIR) is not what llamafactory-cli reads: its placeholders become real values "
        "first. lfgate says once that it is a template and does not judge the values holding placeholders (no "
        "'path does not exist' for `${SCRIPT_DIR}/data`). OmegaConf itself resolves nothing here: "
        "`OmegaConf.to_container` keeps `${...}` as text, so launched unrendered the value is taken literally.",
    fix="Nothing, if the file is rendered before launch; otherwise write the values out.",
    bad=_y("dataset: alpaca_en_demo\ndataset_dir: ${SCRIPT_DIR}/data\n"), good=_y("dataset: alpaca_en_demo\n"),
    target="train.yaml",
)
JSON_CONFIG_OK = rule(
    "TY016", "json-config-read", INFO, "A JSON training config, read as a config by this release",
    why="Releases before 0.9.5 read `llamafactory-cli train x.json` as a config (hparams/parser.py read_args: "
        "HfArgumentParser.parse_json_file up to 0.9.1 and json.loads in 0.9.2, both only with no key=value after "
        "the file; json.loads with overrides in 0.9.3; OmegaConf.load in 0.9.4). 0.9.5 fails on it (TY013).",
    fix="Nothing to fix before 0.9.5; write it as YAML before moving to 0.9.5.",
    bad={"train.json": '{"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft", "do_train": true, '
                       '"finetuning_type": "lora", "template": "qwen", "output_dir": "saves/q"}\n'},
    good={"train.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'}, target="train.json",
    args=("--llamafactory-version", "0.9.4"),
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


def load_config(path: str, base_dir: str, settings, named: bool = False, fmt: str = "yaml",
                block: Tuple[str, ...] = (), also: Sequence[str] = ()) -> Optional[TrainingConfig]:
    """Read one config; None when it is not a LLaMA-Factory config (accelerate, DeepSpeed, token lists...).
    A file named on the command line that cannot be read is reported, never passed over. fmt json: a JSON config
    (`llamafactory-cli train x.json`); block: the key path of a config nested in a wrapper YAML. base_dir: the
    folder llamafactory-cli is launched from; also: further folders relative paths may resolve from. The config's
    diagnostics are the file's own (TY0xx, the engine); ``check_config`` judges its keys and values."""
    doc = _read(path, fmt)
    problems = [(p, _PROBLEM_RULES[p.kind]) for p in doc.problems if p.kind in _PROBLEM_RULES]
    keys_at: Dict[Optional[int], Any] = {line: key[0] for key, (line, _) in doc.key_positions.items() if len(key) == 1}
    diagnostics = [r.diag(_key_prefix(keys_at.get(p.line), p.kind) + _PROBLEM_TEXT.get(p.kind, "{m}").format(
        m=p.message), file=path, line=p.line, column=p.column) for p, r in problems]
    value = doc.value
    for key in block:
        value = value.get(key) if isinstance(value, dict) else None
    if not doc.readable or not isinstance(value, dict):
        if not _looks_like_config(path) and not (named and not doc.readable):
            return None
        if doc.readable:  # a list or scalar holding config keys: LLaMA-Factory's parse_dict needs a mapping
            diagnostics.append(YAML_SYNTAX.diag(
                f"the top level is a {type(value).__name__}, not a mapping: write the config as `key: value` "
                "lines without a leading `- `.", file=path, line=1, column=1))
        return TrainingConfig(path=path, base_dir=base_dir, values={}, diagnostics=diagnostics, also=tuple(also),
                              readable=False)
    values = dict(value)
    remember_secrets(values)  # a token's value is redacted in every report, whatever its type (sanitize.py)
    keys = {k for k in values if isinstance(k, str)}
    engine = _engine(keys)
    if engine is None:
        return None
    depth = len(block)
    positions = {k[depth]: v for k, v in doc.key_positions.items() if len(k) == depth + 1 and k[:depth] == block}
    config = TrainingConfig(path=path, base_dir=base_dir, values=values, positions=positions, engine=engine,
                            also=tuple(also), origin="block" if block else fmt, block=block)
    config.diagnostics = diagnostics
    _apply_overrides(config, getattr(settings, "overrides", None) or {})
    remember_secrets(config.values)
    config.entry = _entry(config)
    config.diagnostics.extend(_said_of_the_file(config, doc, settings))
    if engine == "v1":
        config.diagnostics.append(ENGINE_INFO.diag(
            "a LLaMA-Factory v1 config (model/model_class/train_dataset...): run it with USE_V1=1 "
            "(`USE_V1=1 llamafactory-cli train ...`); lfgate checks it against v1's own arguments", file=path))
        return _without_placeholder_findings(config)
    if engine in _ENGINE_TEXT:
        config.diagnostics.append(ENGINE_INFO.diag(_ENGINE_TEXT[engine], file=path))
    if config.entry == "eval":
        config.diagnostics.append(_eval_entry(path, settings))
    return _without_placeholder_findings(config)


def _read(path: str, fmt: str):
    """The file as a YamlDocument (JSON too: its values, with positions from readers/jsonpos.py)."""
    from lfgate.readers import yaml_reader  # PyYAML: only when there is a YAML file to read

    if fmt != "json":
        return yaml_reader.load_file(path, max_bytes=MAX_CONFIG_BYTES)
    import json

    from lfgate.readers import jsonpos

    try:
        with guarded.open_regular(path) as f:
            text = f.read(MAX_CONFIG_BYTES + 1).decode("utf-8-sig")
        value = json.loads(text)
    except (OSError, ValueError, RecursionError) as err:
        return yaml_reader.YamlDocument(problems=[yaml_reader.Problem("syntax", f"not valid JSON: {err}")],
                                        readable=False)
    places = jsonpos.position_map(text).places
    return yaml_reader.YamlDocument(value=value, key_positions={p: place.key for p, place in places.items() if p},
                                    value_positions={p: (place.line, place.column) for p, place in places.items()})


def _said_of_the_file(config: TrainingConfig, doc, settings) -> list:
    """What the form of the file makes LLaMA-Factory do: a JSON config (TY013), a block of a wrapper (TY012), a
    template with placeholders (TY014)."""
    from lfgate.validator import discovery

    found = []
    if config.origin == "json":
        found.append(_json_config(config, settings))
    if config.block:
        line, column = doc.key_positions.get(config.block, (None, None))
        found.append(discovery.WRAPPED_CONFIG.diag(
            f"`{'.'.join(config.block)}:` holds a LLaMA-Factory training config (a wrapper YAML that hands this block "
            "to llamafactory-cli): checked as that config, findings at their lines in this file", file=config.path,
            line=line, column=column))
    holes = placeholders(config.values)
    if holes:
        config.placeholder_keys = frozenset(holes)
        names = sorted({n for ns in holes.values() for n in ns})
        first = min(holes, key=lambda k: config.positions.get(k, (1 << 30, 0)))
        shown = ", ".join(f"`{k}`" for k in sorted(holes, key=lambda k: config.positions.get(k, (1 << 30, 0)))[:6])
        found.append(TEMPLATE.diag(
            f"a template: {shown} hold{'s' if len(holes) == 1 else ''} "
            f"{', '.join('${' + n + '}' for n in names[:6])}, which no key of the config defines; envsubst or a "
            "launcher fills them in before launch, so lfgate does not judge those values. Launched as it is, "
            "LLaMA-Factory reads them literally (OmegaConf.to_container keeps `${...}` unresolved)",
            **config.where(first)))
    return found


def _json_config(config: TrainingConfig, settings):
    version, source = train_schema.target_version(settings)
    release = train_schema.version_tuple(version)
    if release < (0, 9, 5):
        alone = " when no key=value follows it" if release < (0, 9, 3) else ""
        return JSON_CONFIG_OK.diag(f"a JSON training config: LLaMA-Factory {train_schema.version_name(version)} "
                                   f"({source}) reads it as a config{alone} (hparams/parser.py read_args); checked "
                                   "as one", file=config.path)
    from lfgate.validator import discovery

    return discovery.JSON_CONFIG.diag(
        f"a JSON training config: `llamafactory-cli train {os.path.basename(config.path)}` of LLaMA-Factory "
        f"{train_schema.version_name(version)} ({source}) fails with `AttributeError: 'PosixPath' object has no "
        "attribute 'read'` (hparams/parser.py read_args calls json.load on a Path). Write it as YAML; its keys are "
        "checked below as the config they are", file=config.path)


# `${NAME}` or `$NAME` where NAME is no key of the config and no resolver call (`${oc.env:X}` has a colon).
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")


def placeholders(values: Dict[str, Any]) -> Dict[str, List[str]]:
    """{key: the placeholder names its value holds} for a YAML that a renderer fills in before launch."""
    found: Dict[str, List[str]] = {}
    for key, value in values.items():
        texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
            if isinstance(value, list) else []
        names = [a or b for t in texts for a, b in _PLACEHOLDER.findall(t)]
        names = [n for n in names if n not in values]
        if names and isinstance(key, str):
            found[key] = names
    return found


def without_placeholder_findings(config: TrainingConfig, found: list) -> list:
    """A value with a placeholder is not judged: it is not the value LLaMA-Factory will see."""
    if not config.placeholder_keys:
        return found
    lines = {config.positions[k][0] for k in config.placeholder_keys if k in config.positions}
    # what the loader itself refuses (TY001-TY007: a malformed `${`, a tag) stays: OmegaConf reads the file either way
    return [d for d in found if d.code.startswith("TY00") or d.code == TEMPLATE.code or d.file != config.path
            or d.line not in lines]


def _without_placeholder_findings(config: TrainingConfig) -> TrainingConfig:
    config.diagnostics = without_placeholder_findings(config, config.diagnostics)
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
        with guarded.open_regular(path, "r", encoding="utf-8", errors="replace") as f:
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
