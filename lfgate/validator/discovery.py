"""Which YAML and JSON files are LLaMA-Factory configs, told from their parsed top-level mapping.

A project holds other YAMLs too: Hydra/Lightning configs (`dataset: {name: ...}`, `trainer: ...`), accelerate and
DeepSpeed files, CI workflows, LLaMA Board (web UI) saves. Each file is parsed first (libyaml where available,
inside the reader's size, alias and depth limits; nothing over MAX_CONFIG_BYTES is parsed at all), so every YAML
form counts: next-line values, quoted and explicit keys, flow mappings, anchors and merge keys. A file is checked
as a training config when LLaMA-Factory's own keys carry its top level, or a mapping under one key (a wrapper
that hands that block to llamafactory-cli); the others are named in one info. A file named on the command line is
always accounted for (checked, or one finding saying what it is).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from lfgate.readers import guarded
from lfgate.registry import ERROR, INFO, rule
from lfgate.validator.example_kit import ALPACA_RECORDS, ONE_ENTRY_REGISTRY

HEAD_BYTES = 256 * 1024  # the top-level keys of a training config are in its first lines; a 3 MB YAML is not one
# No file larger than this is parsed as a possible config: LLaMA-Factory's largest example is 2 KB, and the
# pure-Python YAML reader takes about 1 s per 250 KB (a 14 MB YAML took a minute and 1 GB before a bound).
MAX_CONFIG_BYTES = 256 * 1024
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


WRAPPED_CONFIG = rule(
    "TY012", "wrapped-config", INFO, "A training config nested under a key of a wrapper YAML",
    why="Some projects keep LLaMA-Factory's arguments under one key of a larger YAML (`llamafactory:`, `train:`) and "
        "dump that block to a file for `llamafactory-cli train`. lfgate checks such a block as the config it is, "
        "with findings at their lines in the wrapper file; a block is taken for a config only when it names "
        "model_name_or_path and a stage, do_train or finetuning_type.",
    fix="Nothing to fix: the info names the key checked.",
    bad={"pipeline.yaml": "name: my-run\nllamafactory:\n  model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n"
                          "  stage: sft\n  do_train: true\n  finetuning_type: lora\n  template: qwen\n"
                          "  output_dir: saves/q\n"},
    good={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                        "finetuning_type: lora\ntemplate: qwen\noutput_dir: saves/q\n"},
)
JSON_CONFIG = rule(
    "TY013", "json-config", ERROR, "A JSON training config, which `llamafactory-cli train` of 0.9.5 cannot read",
    why="`llamafactory-cli train x.json` reads the file in hparams/parser.py `read_args` (0.9.5, line 96) with "
        "`json.load(Path(...))`, which raises `AttributeError: 'PosixPath' object has no attribute 'read'` (seen; "
        "the same at the repository head); earlier releases read it (TY016). lfgate checks the arguments either way, "
        "as training config keys, not as data.",
    fix="Write the config as YAML (the same keys, `key: value`), or launch with a release before 0.9.5.",
    bad={"train.json": '{"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft", "do_train": true, '
                       '"finetuning_type": "lora", "template": "qwen", "output_dir": "saves/q"}\n'},
    good={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                        "finetuning_type: lora\ntemplate: qwen\noutput_dir: saves/q\n"},
    target="train.json",
)
SKIPPED_FOLDERS = rule(
    "TY015", "skipped-folders", INFO, "Folders a folder scan does not look into",
    why="`lfgate check DIR` does not walk dot-folders, virtual environments, `saves/`, `output(s)/`, `wandb/` or "
        "node_modules: they hold run outputs, copies of configs and other packages' files, and walking them makes "
        "the check slow. The info names those that hold YAML files, with how many, so nothing is passed over "
        "silently; a file named on the command line is always checked.",
    fix="Nothing, if those folders hold no config of yours. Otherwise name the file (`lfgate check saves/x.yaml`) "
        "or move it.",
    bad={"outputs/run1/train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\n"},
    good={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                        "finetuning_type: lora\ntemplate: qwen\noutput_dir: saves/q\n"},
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
        with guarded.open_regular(path) as f:
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
        with guarded.open_regular(path) as f:
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


def is_board(keys: Dict[str, Any]) -> bool:
    return sum(1 for k in keys if k.startswith(("top.", "train."))) >= 2 and "top.model_name" in keys


def _plain(value: Any) -> bool:
    """A value that is no mapping: what a LLaMA-Factory argument holds (`key:` with nothing after it is no value)."""
    return value is not None and value != "" and not isinstance(value, dict)


def weighs_as_config(keys: Dict[str, Any], known) -> bool:
    """LLaMA-Factory's own keys carry the mapping: a strong key, or at least two of its keys with plain (non-mapping)
    values and no fewer than the other keys. `dataset: {name: ...}` is a Hydra dataset, not a LLaMA-Factory one."""
    if not keys:
        return False
    if any(k in STRONG_KEYS and _plain(v) for k, v in keys.items()):
        return True
    from lfgate.validator.training.config import V1_MARKERS

    if isinstance(keys.get("model"), str) and set(keys) & V1_MARKERS:  # a v1 engine config (USE_V1=1)
        return True
    own = [k for k, v in keys.items() if k in known and _plain(v)]
    return len(own) >= 2 and len(own) >= len(keys) - len(own)


def has_marker(keys: Dict[str, Any], markers) -> bool:
    """A key LLaMA-Factory configs are known by, with a plain value (what a named file needs to be checked)."""
    return any(k in markers and _plain(v) for k, v in keys.items())


# A nested block is a config only when it is one without doubt: a Hydra `model:` group (model_name_or_path,
# template) or `training:` group (learning rate, epochs) is no LLaMA-Factory config on its own.
_BLOCK_NEEDS = frozenset({"stage", "do_train", "finetuning_type"})


def wrapped_blocks(value: Dict[Any, Any], known, prefix: Tuple[str, ...] = (), depth: int = 2) -> List[Tuple[str, ...]]:
    """Key paths (at most two keys deep) of the mappings in value that are training configs."""
    found: List[Tuple[str, ...]] = []
    for key, child in value.items():
        if not isinstance(key, str) or not isinstance(child, dict):
            continue
        keys = {k: v for k, v in child.items() if isinstance(k, str)}
        if weighs_as_config(keys, known) and isinstance(keys.get("model_name_or_path"), str) \
                and set(keys) & _BLOCK_NEEDS:
            found.append(prefix + (key,))
        elif depth > 1:
            found.extend(wrapped_blocks(child, known, prefix + (key,), depth - 1))
    return found[:8]


@dataclass(frozen=True)
class Recognition:
    """What a YAML or JSON file is. kind: config, board, blocks (configs under keys), other, pointer (Git LFS),
    too-large, unreadable. looks: an unreadable or oversized file whose text names LLaMA-Factory's keys;
    marker: an `other` file that still sets a key configs are known by (a named one is checked anyway)."""

    kind: str
    why: str = ""
    fmt: str = "yaml"
    blocks: Tuple[Tuple[str, ...], ...] = ()
    looks: bool = False
    marker: bool = False
    values: Optional[Dict[str, Any]] = dataclasses.field(default=None, compare=False)  # its (first block's) keys


def recognise(path: str, known, markers) -> Recognition:
    """Parse the file (bounded by MAX_CONFIG_BYTES before any parse) and tell what it is from its top level."""
    from lfgate.readers import yaml_reader
    from lfgate.validator import lfs

    fmt = "json" if path.lower().endswith(".json") else "yaml"
    if lfs.is_pointer(path):
        return Recognition("pointer", "a Git LFS pointer", fmt)
    try:
        size = os.path.getsize(path)
        with guarded.open_regular(path) as f:
            raw = f.read(min(size, MAX_CONFIG_BYTES) + 1)
    except OSError as err:
        return Recognition("unreadable", f"cannot be read: {err.strerror}", fmt, looks=True)
    if len(raw) > MAX_CONFIG_BYTES:
        keys, binary = top_keys(path)
        return Recognition("too-large", f"{_megabytes(size)}, larger than any training config", fmt,
                           looks=not binary and has_marker(keys or {}, markers))
    text = _text(raw)
    if text is None:
        return Recognition("unreadable", "not text", fmt)
    if fmt == "json":
        try:
            value: Any = json.loads(text)
        except (ValueError, RecursionError):
            return Recognition("other", "not valid JSON", fmt)
    else:
        doc = yaml_reader.load_text(text, fast=True)
        if not doc.readable:
            keys = _head_keys(text)
            return Recognition("unreadable", "not valid YAML", fmt, looks=has_marker(keys, markers)
                               or bool(_LINE_RE.search(text)))
        value = doc.value
    if not isinstance(value, dict):
        return Recognition("other", f"the top level is a {type(value).__name__}", fmt,
                           looks=bool(_LINE_RE.search(text)))
    keys = {k: v for k, v in value.items() if isinstance(k, str)}
    if fmt == "yaml" and is_board(keys):
        return Recognition("board", fmt=fmt, values=keys)
    if weighs_as_config(keys, known):
        return Recognition("config", fmt=fmt, values=keys)
    blocks = wrapped_blocks(value, known)
    if blocks:
        first = value
        for key in blocks[0]:
            first = first[key]
        return Recognition("blocks", fmt=fmt, blocks=tuple(blocks), values=first)
    return Recognition("other", describe(keys, False), fmt, marker=has_marker(keys, markers))


# A line that sets a key every LLaMA-Factory config has (also as a list item): what an unreadable file needs to be
# reported as a broken config rather than passed over.
_LINE_RE = re.compile(r"^\s*(?:-\s+)?[\"']?(model_name_or_path|stage|finetuning_type|dataset|template|do_train)"
                      r"[\"']?\s*:", re.M)


def _text(raw: bytes) -> Optional[str]:
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _head_keys(text: str) -> Dict[str, str]:
    keys: Dict[str, str] = {}
    for match in _TOP_KEY.finditer(text[:HEAD_BYTES]):
        keys.setdefault(match.group(1), (match.group(2) or "-").strip())
    return keys


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def describe(keys: Optional[Dict[str, Any]], binary: bool) -> str:
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


def skipped_folders(counts: Dict[str, int], capped) -> list:
    """One info naming the folders a folder scan did not walk that hold YAML files."""
    if not counts:
        return []
    ordered = sorted(counts, key=lambda f: (-counts[f], f))
    shown = "; ".join(f"{_folder(f)} ({counts[f]}{'+' if f in capped else ''} YAML)" for f in ordered[:8])
    more = f"; and {len(ordered) - 8} more" if len(ordered) > 8 else ""
    return [SKIPPED_FOLDERS.diag(
        f"{len(ordered)} folder(s) that a folder scan does not look into hold YAML files: {shown}{more}. Dot-folders, "
        "virtual environments, saves/, output(s)/, wandb/ and node_modules are passed over; name a file on the "
        "command line to check it", file=ordered[0])]


def _folder(path: str) -> str:
    from lfgate.diagnostics import display_path

    return display_path(path).rstrip(os.sep) + os.sep


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


def load_board(path: str, base_dir: str, settings, also: Tuple[str, ...] = ()):
    """A TrainingConfig built from a LLaMA Board save, to be checked as the web UI would launch it."""
    from lfgate.readers import yaml_reader
    from lfgate.validator.training.config import TrainingConfig

    doc = yaml_reader.load_file(path)
    if not doc.readable or not isinstance(doc.value, dict):
        return None
    lines = {k[0]: v for k, v in doc.key_positions.items() if len(k) == 1}
    values, positions = board_arguments(doc.value, lines)
    config = TrainingConfig(path=path, base_dir=base_dir, values=values, positions=positions, also=also,
                            origin="board")
    config.diagnostics = [BOARD_CONFIG.diag(
        "a LLaMA Board (web UI) saved config: checked as the web UI launches it, its `top.*`/`train.*` fields "
        "mapped to training arguments (webui/runner.py); findings point at the field they come from", file=path)]
    return config
