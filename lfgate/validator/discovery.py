"""Which YAMLs are LLaMA-Factory configs, told cheaply from their top-level keys before any full parse.

A project holds other YAMLs too: Hydra/Lightning configs (`dataset: {name: ...}`, `trainer: ...`), accelerate and
DeepSpeed files, CI workflows, LLaMA Board (web UI) saves. A folder scan checks a YAML as a training config only
when LLaMA-Factory's own keys carry it, and names the others in one info; a file named on the command line is
always accounted for (checked, or one finding saying what it is).
"""

from __future__ import annotations

import json
import os
import re
from typing import Dict, List, Optional, Tuple

from lfgate.registry import INFO, rule
from lfgate.validator.example_kit import ALPACA_RECORDS, ONE_ENTRY_REGISTRY

HEAD_BYTES = 256 * 1024  # the top-level keys of a training config are in its first lines; a 3 MB YAML is not one
_TOP_KEY = re.compile(r"^([A-Za-z_][\w.\-]*)[ \t]*:(?:[ \t]+(\S.*)|[ \t]*)$", re.M)
_NEXT_ITEM = re.compile(r"[ \t]*-[ \t]")
# Keys that mean "LLaMA-Factory" on their own.
STRONG_KEYS = frozenset({"model_name_or_path", "finetuning_type", "adapter_name_or_path", "export_dir",
                         "model_class", "train_dataset"})

_BOARD = ("top.lang: en\ntop.model_name: Qwen2.5-0.5B-Instruct\ntop.finetuning_type: lora\ntop.template: qwen\n"
          "train.training_stage: Supervised Fine-Tuning\ntrain.dataset_dir: data\ntrain.dataset:\n- a\n"
          "train.learning_rate: 5e-5\ntrain.num_train_epochs: '3.0'\ntrain.compute_type: bf16\n")
_REG, _DATA = ONE_ENTRY_REGISTRY, ALPACA_RECORDS

BOARD_CONFIG = rule(
    "TY008", "llamaboard-config", INFO, "A LLaMA Board (web UI) saved config",
    why="LLaMA Board saves its form as `top.*`/`train.*` keys and launches `llamafactory-cli train` with arguments "
        "it builds from them (webui/runner.py `_parse_train_args`). lfgate maps the keys the same way and checks "
        "the result, so a finding points at the form field it comes from.",
    fix="Nothing to fix: the info says the file was checked as the web UI would launch it.",
    bad={"config.yaml": _BOARD, "data/dataset_info.json": _REG, "data/a.json": _DATA},
    good={"config.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                         "finetuning_type: lora\ntemplate: qwen\ndataset: a\noutput_dir: saves/q\n",
          "data/dataset_info.json": _REG, "data/a.json": _DATA},
    target="config.yaml",
)
NOT_A_CONFIG = rule(
    "TY009", "not-a-training-config", INFO, "A YAML that is not a LLaMA-Factory config was passed over",
    why="A project holds other YAMLs (Hydra or Lightning configs, accelerate and DeepSpeed files, CI). Checked as "
        "LLaMA-Factory configs they would give false errors; a training config is recognised by the weight of "
        "LLaMA-Factory's own keys (model_name_or_path, finetuning_type, stage, dataset as a name...). The info "
        "names what was passed over, so nothing is skipped silently.",
    fix="Nothing, if the file is not a training config. If it is one, give it model_name_or_path (and the keys "
        "LLaMA-Factory reads).",
    bad={"conf/hydra.yaml": "dataset:\n  name: imdb\n  labels: [neg, pos]\ntrainer:\n  max_epochs: 3\n"
                            "model:\n  name: bert\n"},
    good={"conf/hydra.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                             "finetuning_type: lora\ntemplate: qwen\noutput_dir: saves/q\n"},
    target="conf/hydra.yaml",
)


NOT_A_REGISTRY = rule(
    "DI006", "not-a-registry", INFO, "A dataset_info.json that is not a LLaMA-Factory registry was passed over",
    why="`datasets.save_to_disk` writes its own dataset_info.json (features, splits), and other projects keep their "
        "metadata under that name. A folder scan checks a dataset_info.json as LLaMA-Factory's registry when some "
        "entry is an object with LLaMA-Factory's keys (file_name, hf_hub_url, columns...), or when a config names "
        "it; a file named on the command line is always checked.",
    fix="Nothing, if it is not a registry.",
    bad={"data/dataset_info.json": '{"split": "test", "features": {"text": {"dtype": "string"}}, '
                                   '"files": {"a.jsonl": 350}}\n'},
    good={"data/dataset_info.json": _REG, "data/a.json": _DATA},
)
# dataset_info.py ENTRY_KEYS: what an entry of LLaMA-Factory's registry holds.
_DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".arrow", ".txt")
_ENTRY_KEYS = frozenset({"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name",
                         "formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"})


def is_registry(path: str) -> bool:
    """False for a dataset_info.json whose values are no LLaMA-Factory entries (HF `save_to_disk` metadata...).
    Unreadable or empty files count as registries: the registry rules report them."""
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return True
    if not isinstance(value, dict) or not value:
        return True
    return any(isinstance(v, dict) and (not v or set(v) & _ENTRY_KEYS)
               or isinstance(v, str) and v.endswith(_DATA_SUFFIXES) for v in value.values())  # `"a": "a.json"`


def not_a_registry(paths: List[str]) -> list:
    if not paths:
        return []
    return [NOT_A_REGISTRY.diag(f"{len(paths)} dataset_info.json file(s) hold no LLaMA-Factory entries (no object "
                                f"with file_name, hf_hub_url, columns...) and were not checked: {'; '.join(paths)}",
                                file=paths[0])]


def top_keys(path: str) -> Tuple[Optional[Dict[str, str]], bool]:
    """({top-level key: its inline value, or '-' when a list follows, or '' when a mapping follows}, binary).
    None when the head is not text."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return None, False
    if b"\x00" in head:
        return None, True
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not a character cut at the end of the head
            return None, True
        text = head[:err.start].decode("utf-8")
    keys: Dict[str, str] = {}
    for match in _TOP_KEY.finditer(text):
        value = (match.group(2) or "").strip()
        if not value or value.startswith("#"):
            value = "-" if _NEXT_ITEM.match(text, match.end() + 1) else ""
        keys.setdefault(match.group(1), value)
    return keys, False


def is_board(keys: Dict[str, str]) -> bool:
    return sum(1 for k in keys if k.startswith(("top.", "train."))) >= 2 and "top.model_name" in keys


def weighs_as_config(keys: Dict[str, str], known) -> bool:
    """LLaMA-Factory's own keys carry the file: a strong key, or at least two of its keys with plain (non-mapping)
    values and no fewer than the other keys. `dataset: {name: ...}` is a Hydra dataset, not a LLaMA-Factory one."""
    if not keys:
        return True  # flow style or an empty file: the full reader decides, as before
    if any(k in STRONG_KEYS and v != "" for k, v in keys.items()):
        return True
    from lfgate.validator.training import V1_MARKERS

    if keys.get("model", "") not in ("", "-") and set(keys) & V1_MARKERS:  # a v1 engine config (USE_V1=1)
        return True
    own = [k for k, v in keys.items() if k in known and v != ""]
    return len(own) >= 2 and len(own) >= len(keys) - len(own)


def has_marker(keys: Dict[str, str], markers) -> bool:
    """A key LLaMA-Factory configs are known by, with a plain value (what a named file needs to be checked)."""
    return any(k in markers and v != "" for k, v in keys.items())


def describe(keys: Optional[Dict[str, str]], binary: bool) -> str:
    if binary or keys is None:
        return "not text"
    shown = ", ".join(list(keys)[:4]) + (", ..." if len(keys) > 4 else "")
    return f"keys {shown}" if keys else "no top-level keys"


def passed_over(paths: List[str], why: Dict[str, str]) -> list:
    """One info for the YAMLs a folder scan did not check as configs."""
    if not paths:
        return []
    names = "; ".join(f"{p} ({why[p]})" for p in paths[:6]) + (f"; and {len(paths) - 6} more" if len(paths) > 6
                                                                 else "")
    return [NOT_A_CONFIG.diag(f"{len(paths)} YAML file(s) are not LLaMA-Factory training configs by their keys and "
                              f"were not checked: {names}", file=paths[0])]


def named_not_config(path: str, why: str) -> list:
    return [NOT_A_CONFIG.diag(f"named on the command line but not a LLaMA-Factory training config ({why}): not "
                              "checked as one", file=path)]


# -- LLaMA Board ---------------------------------------------------------------------------------------------------
# webui/runner.py _parse_train_args (0.9.5): form field -> training argument, for the fields copied as they are.
BOARD_KEYS = {
    "top.finetuning_type": "finetuning_type", "top.template": "template", "train.dataset_dir": "dataset_dir",
    "train.cutoff_len": "cutoff_len", "train.batch_size": "per_device_train_batch_size",
    "train.gradient_accumulation_steps": "gradient_accumulation_steps", "train.lr_scheduler_type":
    "lr_scheduler_type", "train.logging_steps": "logging_steps", "train.save_steps": "save_steps",
    "train.warmup_steps": "warmup_steps", "train.neat_packing": "neat_packing", "train.train_on_prompt":
    "train_on_prompt", "train.mask_history": "mask_history", "train.resize_vocab": "resize_vocab",
    "train.use_llama_pro": "use_llama_pro", "train.enable_thinking": "enable_thinking", "train.report_to":
    "report_to", "train.use_galore": "use_galore", "train.use_apollo": "use_apollo", "train.use_badam": "use_badam",
}
BOARD_FLOATS = {"train.learning_rate": "learning_rate", "train.num_train_epochs": "num_train_epochs",
                "train.max_grad_norm": "max_grad_norm"}
BOARD_LORA = {"train.lora_rank": "lora_rank", "train.lora_alpha": "lora_alpha", "train.lora_dropout":
              "lora_dropout", "train.create_new_adapter": "create_new_adapter", "train.use_rslora": "use_rslora",
              "train.use_dora": "use_dora"}
BOARD_PREF = {"train.pref_beta": "pref_beta", "train.pref_ftx": "pref_ftx", "train.pref_loss": "pref_loss"}
# extras/constants.py TRAINING_STAGES
BOARD_STAGES = {"Supervised Fine-Tuning": "sft", "Reward Modeling": "rm", "PPO": "ppo", "DPO": "dpo", "KTO": "kto",
                "Pre-Training": "pt"}


def board_arguments(form: dict, lines: Dict[str, tuple]) -> Tuple[dict, Dict[str, tuple]]:
    """(training arguments as the web UI builds them, their positions: the line of the form field each comes
    from). A value the web UI would fail to convert is passed on as it is, for the value rules to report."""
    args: dict = {"do_train": True}
    where: Dict[str, tuple] = {}

    def put(field: str, key: str, value) -> None:
        args[key] = value
        if field in lines:
            where[key] = lines[field]

    stage = form.get("train.training_stage")
    put("train.training_stage", "stage", BOARD_STAGES.get(stage, stage) if isinstance(stage, str) else stage)
    model = form.get("top.model_path") or form.get("top.model_name")
    put("top.model_path" if "top.model_path" in form else "top.model_name", "model_name_or_path", model)
    for field, key in BOARD_KEYS.items():
        if field in form:
            put(field, key, form[field])
    for field, key in BOARD_FLOATS.items():
        if field in form:
            put(field, key, _float(form[field]))
    if "train.max_samples" in form:
        put("train.max_samples", "max_samples", _int(form["train.max_samples"]))
    dataset = form.get("train.dataset")
    if dataset is not None:
        put("train.dataset", "dataset", ",".join(map(str, dataset)) if isinstance(dataset, list) else dataset)
    if form.get("train.packing") or form.get("train.neat_packing"):
        put("train.packing", "packing", True)
    compute = form.get("train.compute_type")
    for flag in ("fp16", "bf16", "pure_bf16"):
        if compute == flag:
            put("train.compute_type", flag, True)
    bits = form.get("top.quantization_bit")
    if bits not in (None, "none"):
        put("top.quantization_bit", "quantization_bit", _int(bits))
        put("top.quantization_method", "quantization_method", form.get("top.quantization_method", "bnb"))
    name, finetuning = str(form.get("top.model_name") or ""), args.get("finetuning_type", "lora")
    output = form.get("train.output_dir")
    if isinstance(output, str) and output:  # get_save_dir: saves/<model>/<finetuning type>/<output_dir>
        path = output if os.sep in output else os.path.join("saves", *(p.replace(" ", "") for p in
                                                                      (name, str(finetuning), output)))
        put("train.output_dir", "output_dir", path)
    if finetuning == "lora":
        for field, key in BOARD_LORA.items():
            if field in form:
                put(field, key, form[field])
        put("train.lora_target", "lora_target", form.get("train.lora_target") or "all")
    if args.get("stage") in ("dpo", "kto"):
        for field, key in BOARD_PREF.items():
            if field in form:
                put(field, key, form[field])
    extra = form.get("train.extra_args")
    if isinstance(extra, str) and extra.strip():
        try:
            parsed = json.loads(extra)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for key, value in parsed.items():
                put("train.extra_args", key, value)
    return args, where


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def load_board(path: str, base_dir: str, settings):
    """A TrainingConfig built from a LLaMA Board save, to be checked as the web UI would launch it."""
    from lfgate.readers import yaml_reader
    from lfgate.validator import training

    doc = yaml_reader.load_file(path)
    if not doc.readable or not isinstance(doc.value, dict):
        return None
    lines = {k[0]: v for k, v in doc.key_positions.items() if len(k) == 1}
    values, positions = board_arguments(doc.value, lines)
    config = training.TrainingConfig(path=path, base_dir=base_dir, values=values, positions=positions)
    config.diagnostics = [BOARD_CONFIG.diag(
        "a LLaMA Board (web UI) saved config: checked as the web UI launches it, its `top.*`/`train.*` fields "
        "mapped to training arguments (webui/runner.py); findings point at the field they come from", file=path)]
    return config
