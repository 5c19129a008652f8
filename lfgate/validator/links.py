"""Links between a training config, its dataset_info.json, its datasets and its model (codes LK001-LK399).

The engine calls ``registry_path`` and ``dataset_usages`` (validator/usage.py, re-exported here: where the
config's dataset_info.json is, how the config uses each dataset) and ``check_links`` (everything that needs the
config and the checked data together): names, stage against data kind, template against model and media, the
local model folder, the step budget and truncation at cutoff_len.
"""

from __future__ import annotations

import math
import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

from lfgate.lf_facts import did_you_mean, looks_like_local_path, split_names
from lfgate.readers import guarded
from lfgate.registry import DATASET, ERROR, INFO, WARNING, rule
from lfgate.validator import cached_data, model_families, pretrain, train_schema
from lfgate.validator.example_kit import BASE_CONFIG
from lfgate.validator.model import DATA_STAGE
from lfgate.validator.usage import (  # registry_path, dataset_usages: the engine's entry points
    dataset_usages as dataset_usages,
    int_or_none as _int,
    registry_path as registry_path,
)

FEW_EVAL_SAMPLES = 5

_REG = '{"alpaca_demo": {"file_name": "alpaca_demo.json"}}\n'
_DATA = '[{"instruction": "Say hi", "input": "", "output": "Hi"}]\n'
_CFG = BASE_CONFIG


def _project(extra: str = "", config: str = _CFG, registry: str = _REG, data: str = _DATA, files=None) -> dict:
    """A small project for a rule's examples: train.yaml (+ extra lines), data/dataset_info.json, data, files."""
    project = {"train.yaml": config + extra, "data/dataset_info.json": registry, "data/alpaca_demo.json": data}
    project.update(files or {})
    return project


# ----------------------------------------------------------------------------------------------------------------
# Names and paths
# ----------------------------------------------------------------------------------------------------------------
REGISTRY_MISSING = rule(
    "LK001", "registry-not-found", ERROR, "The config's dataset_info.json does not exist",
    why="LLaMA-Factory reads dataset_dir/dataset_info.json relative to the directory it is launched from and "
        "raises `Cannot open data/dataset_info.json` when it is not there.",
    fix="Set `dataset_dir` to the folder holding dataset_info.json, or launch from the project folder.",
    bad={"train.yaml": _CFG + "dataset: alpaca_demo\ndataset_dir: dataz\n", "data/dataset_info.json": _REG,
         "data/alpaca_demo.json": _DATA},
    good=_project("dataset: alpaca_demo\n"), target="train.yaml",
)
UNDEFINED_DATASET = rule(
    "LK002", "undefined-dataset", ERROR, "A dataset name that dataset_info.json does not define",
    why="`dataset`/`eval_dataset` take names of dataset_info.json entries; LLaMA-Factory raises `Undefined "
        "dataset {name} in dataset_info.json.` A file path there is a common mistake.",
    fix="Use an entry name (the message suggests one), or register the file in dataset_info.json.",
    bad=_project("dataset: alpaca_demo.json\n"), good=_project("dataset: alpaca_demo\n"), target="train.yaml",
)
MEDIA_DIR_MISSING = rule(
    "LK003", "media-dir-not-found", WARNING, "`media_dir` does not exist",
    why="LLaMA-Factory joins media paths onto media_dir only when the joined file exists; otherwise it logs "
        "`Media ... does not exist in media_dir. Use original path.` for every sample.",
    fix="Point media_dir at the folder your image/video/audio paths are relative to.",
    bad=_project("dataset: alpaca_demo\nmedia_dir: pics\n"),
    good=_project("dataset: alpaca_demo\nmedia_dir: data\n"), target="train.yaml",
)


def _check_names(config, registry, reg_path) -> Iterator:
    names = [(key, n) for key in ("dataset", "eval_dataset") for n in split_names(config.values.get(key))]
    if not names:
        return
    if reg_path is None:
        return
    if registry is None or not os.path.isfile(reg_path):
        dataset_dir = config.values.get("dataset_dir", "data")
        looked = reg_path
        if isinstance(dataset_dir, str) and reg_path.endswith(os.path.join(dataset_dir, "dataset_info.json")):
            looked = " or ".join(os.path.join(c, "dataset_info.json") for c in config.candidates(dataset_dir))
        yield REGISTRY_MISSING.diag(
            f"dataset_info.json not found at {looked} (`dataset_dir: {dataset_dir}`, "
            "resolved against the directory llamafactory-cli is launched from): LLaMA-Factory raises `Cannot open "
            "dataset_info.json`. Set dataset_dir or launch from the project folder",
            **config.where("dataset_dir", "dataset"))
        return
    if not getattr(registry, "readable", True):
        return  # the registry's own rules report it
    entries = registry.entries
    by_file: Dict[str, str] = {}
    for name, entry in entries.items():
        source = entry.raw.get("file_name") if isinstance(entry.raw, dict) else None
        if isinstance(source, str):
            by_file.setdefault(os.path.normpath(source), name)
            by_file.setdefault(os.path.basename(source), name)
    for key, name in names:
        if name in entries:
            continue
        where = config.where(key)
        file_match = by_file.get(os.path.normpath(name)) or by_file.get(os.path.basename(name))
        folder = config.resolve(name)
        other = _registered_elsewhere(config, name)
        if os.path.isdir(folder) and os.path.isfile(os.path.join(folder, "dataset_info.json")):
            hint = (f" `{name}` is a folder with a dataset_info.json: that is `dataset_dir: {name}`; `{key}` takes "
                    "the entry names defined in it")
        elif file_match:
            hint = (f" `{name}` is the file_name of the entry `{file_match}`: write `{key}: {file_match}` "
                    "(dataset takes entry names, not files)")
        elif other:
            hint = (f" `{name}` is registered as `{other[1]}` in {other[0]}: set `dataset_dir: "
                    f"{os.path.dirname(name) or '.'}` and `{key}: {other[1]}`")
        elif "/" in name or os.sep in name or re.search(r"\.(jsonl?|csv|parquet|arrow|txt)$", name):
            hint = (f" `{name}` looks like a file path: register it in {os.path.basename(registry.path)} "
                    f"(`lfgate register {name}`) and use the entry's name")
        else:
            hint = did_you_mean(name, entries)
        yield UNDEFINED_DATASET.diag(f"`{key}` names `{name}`, which {registry.path} does not define: LLaMA-Factory "
                                     f"raises `Undefined dataset {name} in dataset_info.json.`{hint}",
                                     dataset=name, **where)


def _registered_elsewhere(config, name: str) -> Optional[Tuple[str, str]]:
    """(dataset_info.json, entry) when name is a data file that the dataset_info.json beside it registers."""
    path = config.resolve(name)
    registry = os.path.join(os.path.dirname(path), "dataset_info.json")
    if not os.path.isfile(path) or not os.path.isfile(registry):
        return None
    data = _read_json(registry) or {}
    for entry, attrs in data.items():
        if isinstance(attrs, dict) and attrs.get("file_name") == os.path.basename(path):
            return registry, entry
    return None


def _check_media_dir(config) -> Iterator:
    media = config.values.get("media_dir")
    if isinstance(media, str) and media and not os.path.isdir(config.resolve(media)):
        looked = " and ".join(config.candidates(media))
        yield MEDIA_DIR_MISSING.diag(f"`media_dir: {media}` does not exist (looked at {looked}): media paths stay "
                                     "as written in the data", **config.where("media_dir"))


# ----------------------------------------------------------------------------------------------------------------
# Stage against data kind
# ----------------------------------------------------------------------------------------------------------------
STAGE_DATA = rule(
    "LK010", "stage-data-kind", ERROR, "The stage needs another kind of dataset",
    why="rm/dpo/orpo/simpo read pairwise data (`ranking: true`); every other stage reads non-ranking data. "
        "LLaMA-Factory raises `The dataset is not applicable in the current training stage.`",
    fix="Use a ranking dataset for rm/dpo (chosen/rejected) and a plain one for pt/sft/kto/ppo, or change stage.",
    bad=_project("dataset: alpaca_demo\n", config=_CFG.replace("stage: sft", "stage: dpo")),
    good=_project("dataset: alpaca_demo\n"), target="train.yaml",
)


def _check_stage(config, registry) -> Iterator:
    stage = config.values.get("stage", "sft")
    if registry is None or not isinstance(stage, str) or stage not in DATA_STAGE:
        return
    for key in ("dataset", "eval_dataset"):
        for name in split_names(config.values.get(key)):
            entry = registry.entries.get(name)
            if entry is None:
                continue
            rm = DATA_STAGE[stage] == "rm"
            # LLaMA-Factory's gate exactly (loader.py): a non-boolean `ranking` such as "true" passes it in every
            # stage (DI115 reports the type; the samples rules see what the converter makes of it)
            if not ((rm and entry.ranking is False) or (not rm and entry.ranking is True)):
                continue
            ranking = entry.ranking is True
            if ranking != rm:
                need = "a ranking dataset (`ranking: true`, chosen/rejected)" if not ranking else \
                    "a non-ranking dataset"
                yield STAGE_DATA.diag(f"`stage: {stage}` needs {need}, but `{name}` is "
                                      f"{'a ranking' if ranking else 'not a ranking'} dataset: LLaMA-Factory raises "
                                      "`The dataset is not applicable in the current training stage.`",
                                      dataset=name, **config.where(key, "stage"))


# ----------------------------------------------------------------------------------------------------------------
# Template against model and media
# ----------------------------------------------------------------------------------------------------------------
TEMPLATE_MODEL = rule(
    "LK020", "template-model-mismatch", WARNING, "The template does not match the model family",
    why="LLaMA-Factory never compares them: a Qwen model trained with the llama3 template learns a chat format it "
        "will not see at inference. Its model registry pairs each known model with a template.",
    fix="Use the template the message names (or its `_nothink` variant for non-reasoning use).",
    bad=_project("dataset: alpaca_demo\n", config=_CFG.replace("template: qwen", "template: llama3")),
    good=_project("dataset: alpaca_demo\n"), target="train.yaml",
)
_MM_REG = ('{"mm": {"file_name": "mm.json", "columns": {"prompt": "instruction", "response": "output", '
           '"images": "images"}}}\n')
_MM_FILES = {"data/mm.json": '[{"instruction": "<image>What is it?", "output": "A cat.", "images": ["cat.png"]}]\n',
             "data/cat.png": "png"}
MEDIA_TEMPLATE = rule(
    "LK021", "media-without-plugin", ERROR, "Images, videos or audio with a template that cannot take them",
    why="A text-only template (no multimodal plugin) raises `This model does not support image input. Please "
        "check whether the correct `template` is used.` when the data has images (videos, audio likewise).",
    fix="Use the model's multimodal template (e.g. qwen2_vl), or remove the media from the data.",
    bad=_project("dataset: mm\n", registry=_MM_REG, files=_MM_FILES),
    good=_project("dataset: mm\n", config=_CFG.replace("template: qwen", "template: qwen2_vl").replace(
        "Qwen2.5-0.5B-Instruct", "Qwen2-VL-2B-Instruct").replace("qwen2.5-0.5b", "qwen2-vl-2b"),
        registry=_MM_REG, files=_MM_FILES),
    target="train.yaml",
)

# A local config.json's model_type -> the template LLaMA-Factory's registry pairs that architecture with.
MODEL_TYPE_TEMPLATE = {
    "qwen2": "qwen", "qwen2_moe": "qwen", "qwen3": "qwen3", "qwen3_moe": "qwen3", "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_vl", "qwen3_vl": "qwen3_vl", "qwen3_vl_moe": "qwen3_vl", "qwen2_audio": "qwen2_audio",
    "mistral": "mistral", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "gemma3_text": "gemma3",
    "phi3": "phi", "glm4": "glm4", "chatglm": "chatglm3", "deepseek_v3": "deepseek3", "llava": "llava",
    "mllama": "mllama", "llama4": "llama4", "olmo": "olmo", "granite": "granite3",
}


def _base_template(name: str) -> str:
    """The thinking template a `_nothink` one is the non-thinking variant of: only where that template is a
    ReasoningTemplate (qwen3, qwen3_vl, qwen3_5, qwen3_omni). `ernie` and `ernie_nothink` are two unrelated chat
    formats (data/template.py: chatml-like with think_mode, and `User: ... Assistant:`)."""
    if not name.endswith("_nothink"):
        return name
    base = name[: -len("_nothink")]
    return base if train_schema.templates()["templates"].get(base, {}).get("reasoning") else name


def _expected_template(config) -> Optional[Tuple[str, str]]:
    """(template, how it was found) for the config's model, or None when the model is not known."""
    model = config.values.get("model_name_or_path")
    if not isinstance(model, str) or not model:
        return None
    registry = train_schema.templates()["model_to_template"]
    key = model.strip().rstrip("/").lower()
    if key in registry:
        return registry[key], f"LLaMA-Factory's model registry pairs {model} with it"
    local = _local_model(config)
    if local:
        info = _read_json(os.path.join(local, "config.json")) or {}
        model_type = info.get("model_type")
        if model_type == "llama":
            vocab = info.get("vocab_size")
            template = "llama3" if vocab and vocab >= 128000 else "llama2" if vocab == 32000 else None
            if template:
                return template, f"{local}/config.json has model_type llama with a {vocab}-token vocabulary"
        if model_type in MODEL_TYPE_TEMPLATE:
            return MODEL_TYPE_TEMPLATE[model_type], f"{local}/config.json has model_type {model_type}"
        paired = model_families.registry_templates(model_type) if isinstance(model_type, str) else frozenset()
        if len({_base_template(t) for t in paired}) == 1:  # every registry model of this architecture uses it
            return min(paired), (f"{local}/config.json has model_type {model_type}, which LLaMA-Factory's registry "
                                 "pairs with this template only")
    name = key.split("/")[-1]  # a local copy of a hub model keeps its name
    matches = {t for hub, t in registry.items() if hub.split("/")[-1] == name}
    if len(matches) == 1:
        named = model.rstrip("/").split("/")[-1]
        return matches.pop(), f"LLaMA-Factory's model registry pairs models named {named} with it"
    return None


def _check_template(config, used) -> Iterator:
    template = config.values.get("template")
    templates = train_schema.templates()["templates"]
    if isinstance(template, str) and template in templates:
        expected = _expected_template(config)
        if expected and expected[0] in templates:
            want = expected[0]
            if _base_template(want) != _base_template(template):
                yield TEMPLATE_MODEL.diag(f"`template: {template}` does not match the model: {expected[1]} "
                                          f"(`template: {want}`). Use `{want}`", **config.where("template"))
            elif _base_template(want) != want and template == _base_template(want):
                # A reasoning template for a model that does not reason: LLaMA-Factory warns about exactly this.
                yield TEMPLATE_MODEL.diag(f"`template: {template}` is a reasoning (thinking) template, but the model "
                                          f"is not a reasoning model: {expected[1]} (`template: {want}`). Use "
                                          f"`{want}`", **config.where("template"))
    accepts = set(templates.get(template, {}).get("accepts", [])) if isinstance(template, str) else set()
    if isinstance(template, str) and template not in templates:
        return  # TY203 reports the unknown name
    for name, result in used.items():
        media = _media_kinds(result)
        missing = sorted(m for m in media if m not in accepts)
        if missing:
            kinds = "/".join(missing)
            shown = f"`template: {template}`" if isinstance(template, str) else "no `template` (the empty template)"
            yield MEDIA_TEMPLATE.diag(
                f"dataset `{name}` has {kinds} but {shown} has no multimodal plugin for them: LLaMA-Factory raises "
                f"`This model does not support {missing[0]} input.` Use the model's multimodal template",
                dataset=name, **config.where("template", "dataset"))


def _media_kinds(result) -> set:
    facts = getattr(result, "facts", None)
    if facts is not None and facts.samples is not None:
        names = {"images": "image", "videos": "video", "audios": "audio"}
        return {names.get(k, k) for k, n in facts.media.items() if n}
    entry = getattr(result, "entry", None)  # no facts: the columns tell whether media are declared
    columns = getattr(entry, "columns", {}) or {}
    return {kind for col, kind in (("images", "image"), ("videos", "video"), ("audios", "audio")) if columns.get(col)}


# ----------------------------------------------------------------------------------------------------------------
# A local model folder (config.json; weights are never loaded)
# ----------------------------------------------------------------------------------------------------------------
_LOCAL_CFG = _CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "models/tiny")  # a config naming a local model
_TINY = {"models/tiny/config.json": '{"model_type": "qwen2", "max_position_embeddings": 4096}'}
_TINY_BF16 = {"models/tiny/config.json": '{"model_type": "qwen2", "torch_dtype": "bfloat16"}'}
CUTOFF_CONTEXT = rule(
    "LK031", "cutoff-exceeds-context", WARNING, "`cutoff_len` exceeds the model's context length",
    why="Sequences longer than max_position_embeddings go past the positions the model was trained on; without "
        "rope scaling the quality of long samples collapses.",
    fix="Lower cutoff_len to the model's context length, or set `rope_scaling`.",
    bad=_project("dataset: alpaca_demo\ncutoff_len: 8192\n", config=_LOCAL_CFG,
                 files=_TINY),
    good=_project("dataset: alpaca_demo\ncutoff_len: 2048\n", config=_LOCAL_CFG,
                  files=_TINY),
    target="train.yaml",
)
DTYPE = rule(
    "LK032", "implausible-dtype", WARNING, "A precision that does not suit the model",
    why="A model trained in bfloat16 overflows in fp16 (loss becomes nan); a model folder without config.json is "
        "not a model at all.",
    fix="Use `bf16: true` for bfloat16 models (on GPUs that support it).",
    bad=_project("dataset: alpaca_demo\nfp16: true\n", config=_LOCAL_CFG,
                 files=_TINY_BF16),
    good=_project("dataset: alpaca_demo\nbf16: true\n", config=_LOCAL_CFG,
                  files=_TINY_BF16),
    target="train.yaml",
)

MODEL_MISSING = rule(
    "LK033", "model-path-missing", WARNING, "`model_name_or_path` is a local path that does not exist",
    why="A path that is not there is taken as a hub id; loading then fails with `Repo id must be in the form "
        "'repo_name' or 'namespace/repo_name'` or a not-found error, after the data has been processed. A warning, "
        "not an error: the path may be the output of an earlier run (an SFT model a DPO or chat config loads).",
    fix="Point model_name_or_path at the model folder (with config.json), or run the stage that writes it first.",
    bad=_project("dataset: alpaca_demo\n", config=_CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "./models/qwen")),
    good=_project("dataset: alpaca_demo\n", config=_CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "./models/tiny"),
                  files=_TINY),
    target="train.yaml",
)
def _read_json(path: str) -> Optional[dict]:
    """A model-folder or registry JSON object through the guarded reader (regular files only, size-capped)."""
    return guarded.read_json_object(path)


def _local_model(config) -> Optional[str]:
    model = config.values.get("model_name_or_path")
    if not isinstance(model, str) or not model:
        return None
    folder = config.resolve(model)
    return folder if os.path.isdir(folder) else None


def _check_model_folder(config) -> Iterator:
    folder = _local_model(config)
    model = config.values.get("model_name_or_path")
    if folder is None and isinstance(model, str) and looks_like_local_path(model):
        looked = " and ".join(config.candidates(os.path.expanduser(model)))
        yield MODEL_MISSING.diag(f"`model_name_or_path: {model}` is a local path that does not exist (looked at "
                                 f"{looked}): loading would fail. Fix the path, or run the stage that writes it "
                                 "first",
                                 **config.where("model_name_or_path"))
    if folder is None:
        return
    info = _read_json(os.path.join(folder, "config.json"))
    if info is None:
        path = os.path.join(folder, "config.json")
        why = " (it is not a regular file: a pipe, a device or a link to one)" \
            if os.path.lexists(path) and not os.path.isfile(path) else ""
        yield DTYPE.diag(f"`model_name_or_path: {config.values['model_name_or_path']}` is a folder without a "
                         f"readable config.json ({folder}){why}: transformers cannot load it",
                         **config.where("model_name_or_path"))
        return
    text_config = info.get("text_config")
    text_info: dict = text_config if isinstance(text_config, dict) else info
    # cutoff_len against the context
    cutoff = _int(config.values.get("cutoff_len", 2048))
    context = next((text_info.get(k) for k in ("max_position_embeddings", "n_positions", "seq_length",
                                                "max_sequence_length") if _int(text_info.get(k))), None)
    if cutoff and context and cutoff > context and not config.values.get("rope_scaling") \
            and not text_info.get("rope_scaling"):
        yield CUTOFF_CONTEXT.diag(f"`cutoff_len: {cutoff}` exceeds the model's context of {context} tokens "
                                  f"(max_position_embeddings in {folder}/config.json): lower it to {context} or "
                                  "set `rope_scaling`", **config.where("cutoff_len"))
    # dtype
    dtype = str(info.get("torch_dtype") or info.get("dtype") or text_info.get("torch_dtype") or "")
    if dtype == "bfloat16" and config.values.get("fp16") is True:
        yield DTYPE.diag(f"`fp16: true` with a model stored in bfloat16 ({folder}/config.json): fp16 overflows "
                         "where bf16 does not; use `bf16: true`", **config.where("fp16"))


# ----------------------------------------------------------------------------------------------------------------
# The step budget
# ----------------------------------------------------------------------------------------------------------------
STEPS_EXCEED = rule(
    "LK040", "steps-exceed-run", WARNING, "`eval_steps`, `save_steps` or `logging_steps` exceed the whole run",
    why="With fewer optimizer steps than eval_steps, evaluation never runs (likewise checkpoints and loss logs).",
    fix="Lower the step interval below the run's total steps (the message gives it), or use a ratio below 1.",
    bad=_project("dataset: alpaca_demo\nnum_train_epochs: 1\nlogging_steps: 100\n"),
    good=_project("dataset: alpaca_demo\nnum_train_epochs: 1\nlogging_steps: 1\nsave_steps: 1\n"),
    target="train.yaml",
)
WARMUP_COVERS = rule(
    "LK041", "warmup-covers-run", WARNING, "Warm-up lasts the whole run",
    why="When warmup_steps reach the total steps the learning rate never gets to its set value.",
    fix="Use fewer warm-up steps (or warmup_ratio around 0.03-0.1).",
    bad=_project("dataset: alpaca_demo\nnum_train_epochs: 1\nlogging_steps: 1\nsave_steps: 1\nwarmup_steps: 10\n"),
    good=_project("dataset: alpaca_demo\nnum_train_epochs: 1\nlogging_steps: 1\nsave_steps: 1\n"),
    target="train.yaml",
)
_TEN = "[" + ", ".join(f'{{"instruction": "Q{i}", "input": "", "output": "A{i}"}}' for i in range(10)) + "]\n"
FEW_EVAL = rule(
    "LK042", "few-eval-samples", WARNING, "`val_size` leaves fewer than a handful of evaluation samples",
    why="An evaluation loss over one or two samples is noise; it cannot tell over-fitting from luck.",
    fix="Raise val_size (or give an eval_dataset) so that at least a few dozen samples are held out.",
    bad=_project("dataset: alpaca_demo\nval_size: 0.2\n", data=_TEN),
    good=_project("dataset: alpaca_demo\n", data=_TEN), target="train.yaml",
)
VAL_TOO_LARGE = rule(
    "LK044", "val-size-too-large", ERROR, "`val_size` holds out every sample",
    why="datasets' train_test_split raises when the test part is as large as the data (`test_size=... should be "
        "smaller than the number of samples`), and a run with no training sample trains nothing.",
    fix="Use a fraction such as 0.1, or a count smaller than the dataset.",
    bad=_project("dataset: alpaca_demo\nval_size: 5\n"),
    good=_project("dataset: alpaca_demo\n"), target="train.yaml",
)
BUDGET_INFO = rule(
    "LK043", "step-budget", INFO, "The run's size in samples and optimizer steps",
    why="Knowing the number of optimizer steps before launching shows whether step intervals make sense.",
    fix="Nothing to fix. The device count comes from --devices, `devices` in [tool.lfgate], NNODES x "
        "NPROC_PER_NODE, then ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES; the message says which.",
    bad=_project("dataset: alpaca_demo\nlogging_steps: 1\nsave_steps: 1\n"),
    good=_project("dataset: alpaca_demo\n", registry='{"alpaca_demo": {"hf_hub_url": "llamafactory/alpaca_en"}}\n'),
    target="train.yaml",
)


_BIG = '{"alpaca_demo": {"file_name": "alpaca_demo.json", "num_samples": 4000000}}\n'
DDP_TIMEOUT = rule(
    "LK045", "ddp-timeout-during-tokenization", WARNING,
    "With several devices, tokenizing the dataset may outlast `ddp_timeout`",
    why="LLaMA-Factory loads and tokenizes the data in the main process while the other ranks wait at a barrier "
        "(`main_process_first` in data/loader.py). The wait is bounded by `ddp_timeout` (transformers' default 1800 "
        "s): past it the NCCL/HCCL watchdog kills the run, 30 minutes in, before a step (LLaMA-Factory issues "
        "#2424, #2885, #2656). The estimate assumes about 1000 text samples (100 multimodal ones) per second per "
        "`preprocessing_num_workers`.",
    fix="Set `ddp_timeout: 180000000` as LLaMA-Factory's examples do, tokenize once with `tokenized_path`, or raise "
        "`preprocessing_num_workers`.",
    bad=_project("dataset: alpaca_demo\n", registry=_BIG),
    good=_project("dataset: alpaca_demo\nddp_timeout: 180000000\n", registry=_BIG),
    target="train.yaml", args=("--devices", "2"),
)
# Samples per second per preprocessing worker, on the conservative side: LLaMA-Factory's SupervisedDatasetProcessor
# encodes each turn through the template in Python (text); multimodal plugins also open every image or video.
TOKENIZE_RATE = {"text": 1000, "media": 100}
DDP_TIMEOUT_DEFAULT = 1800  # transformers TrainingArguments.ddp_timeout


def _ddp_timeout(config, samples: int, devices, used) -> Iterator:
    v = config.values
    if devices.count < 2 or v.get("tokenized_path"):
        return
    timeout = v.get("ddp_timeout", DDP_TIMEOUT_DEFAULT)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        return
    workers = _int(v.get("preprocessing_num_workers")) or 1
    media = any(_media_kinds(result) for result in used.values())
    rate = TOKENIZE_RATE["media" if media else "text"] * max(workers, 1)
    seconds = samples / rate
    if seconds >= timeout / 2:  # a rough estimate: warn at half the timeout
        yield DDP_TIMEOUT.diag(
            f"tokenizing the `dataset` (~{samples:,} samples) takes about {seconds / 60:.0f} min ({rate:,} samples/s "
            f"with {workers} preprocessing worker{'s' if workers != 1 else ''}) while the other ranks of the "
            f"{devices.describe()} wait at most `ddp_timeout` {timeout:g} s: the NCCL/HCCL watchdog may stop the run "
            "before its first step. Set `ddp_timeout: 180000000` (as LLaMA-Factory's examples do) or tokenize once "
            "with `tokenized_path`", **config.where("ddp_timeout", "dataset"))


def _dataset_size(entry, result, max_samples) -> Optional[int]:
    facts = getattr(result, "facts", None)
    if entry is None or entry.local_path is None:
        return None
    size = facts.kept if facts is not None and facts.kept is not None else getattr(result, "samples", None)
    if not isinstance(size, int):
        return None
    num = _int(entry.num_samples)
    if num is not None and num >= 0:
        size = num  # a random permutation truncated to num_samples, oversampled past the end
    if max_samples is not None:
        size = min(size, max(max_samples, 0))
    return size


def _run_shape(v, settings):
    """(batch, accumulation, DeviceCount), or why no budget can be computed. Never a made-up default for a value
    the user set: `per_device_train_batch_size: 0` is not 8 (transformers' DataLoader rejects it)."""
    from lfgate.devices_env import device_count

    shape = []
    for key, default in (("per_device_train_batch_size", 8), ("gradient_accumulation_steps", 1)):
        value = v.get(key, default)
        number = _int(value)
        if number is None or number < 1:
            return f"`{key}: {value}` is not a positive whole number"
        shape.append(number)
    return shape[0], shape[1], device_count(settings)


def _budget(config, registry, used, settings) -> Iterator:
    v = config.values
    packing = v.get("packing", v.get("stage", "sft") == "pt") or v.get("neat_packing")
    if not v.get("do_train") or v.get("streaming") or registry is None or packing is True:
        return  # packed sequences (pt by default) are counted in tokens, not samples: unknown before tokenising
    max_samples = _int(v.get("max_samples"))
    train_names = split_names(v.get("dataset"))
    sizes = []
    for name in train_names:
        size = _dataset_size(registry.entries.get(name), used.get(name), max_samples)
        if size is None:
            return  # a hub dataset or an unread file: the budget is unknown
        sizes.append(size)
    total = sum(sizes)
    if not total:
        return  # an empty dataset: the dataset rules report it
    val = v.get("val_size", 0.0)
    eval_count = None
    if isinstance(val, (int, float)) and not isinstance(val, bool) and val > 1e-6:
        eval_count = math.ceil(total * val) if val < 1 else int(val)  # datasets' train_test_split
        if eval_count >= total:
            yield VAL_TOO_LARGE.diag(f"`val_size: {val}` holds out {eval_count} of {total} samples: nothing is left "
                                     "to train on and datasets' train_test_split raises. Use a fraction such as 0.1",
                                     **config.where("val_size"))
            return
        total = max(total - eval_count, 0)
        if eval_count < FEW_EVAL_SAMPLES:
            yield FEW_EVAL.diag(f"`val_size: {val}` holds out {eval_count} of {total + eval_count} samples: too few "
                                "for a meaningful evaluation loss", **config.where("val_size"))
    shape = _run_shape(v, settings)
    if isinstance(shape, str):  # a batch, accumulation or epoch count no budget can be computed from
        yield BUDGET_INFO.diag(f"no step budget: {shape}", **config.where("do_train"))
        return
    batch, accum, devices = shape
    yield from _ddp_timeout(config, total, devices, used)
    epochs = v.get("num_train_epochs", 3.0)
    max_steps = _int(v.get("max_steps", -1))
    # transformers 5 Trainer: each rank gets ceil(n / devices) samples (DistributedSampler pads), its dataloader
    # ceil(that / batch) batches (floor with dataloader_drop_last), an epoch ceil(batches / accumulation) updates.
    per_rank = math.ceil(total / devices.count)
    batches = per_rank // batch if v.get("dataloader_drop_last") else math.ceil(per_rank / batch)
    per_epoch = max(math.ceil(batches / accum), 1) if batches else 0
    if max_steps is not None and max_steps > 0:
        steps, how = max_steps, f"max_steps {max_steps}; {devices.describe()}"
    elif isinstance(epochs, (int, float)) and not isinstance(epochs, bool):
        if not math.isfinite(epochs) or epochs <= 0:
            yield BUDGET_INFO.diag(f"no step budget: `num_train_epochs: {epochs}` without max_steps gives no finite, "
                                   "positive number of optimizer steps (nothing would be trained)",
                                   **config.where("num_train_epochs", "do_train"))
            return
        steps = math.ceil(epochs * per_epoch)
        how = (f"{total} training samples / (batch {batch} x {devices.describe()}) / "
               f"gradient accumulation {accum} = {per_epoch} per epoch x {epochs:g} epochs")
    else:
        return
    yield BUDGET_INFO.diag(f"the run has {steps} optimizer steps ({how})", **config.where("do_train"))
    if steps <= 0:
        return
    strategy = {"eval_steps": v.get("eval_strategy", "no"), "save_steps": v.get("save_strategy", "steps"),
                "logging_steps": v.get("logging_strategy", "steps")}
    defaults = {"eval_steps": v.get("logging_steps", 500), "save_steps": 500, "logging_steps": 500}
    effect = {"eval_steps": "evaluation never runs", "save_steps": "no checkpoint is saved before the end",
              "logging_steps": "no training loss is logged"}
    for key in ("eval_steps", "save_steps", "logging_steps"):
        if strategy[key] != "steps":
            continue
        value = v.get(key, defaults[key])
        if key == "eval_steps" and value is None:
            value = v.get("logging_steps", 500)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 and value > steps:
            shown = f"`{key}: {value:g}`" if key in v else f"`{key}` (default {value:g})"
            yield STEPS_EXCEED.diag(f"{shown} exceeds the run's {steps} optimizer steps ({how}): "
                                    f"{effect[key]}. Use at most {steps}, or a ratio below 1",
                                    **config.where(key, "do_train"))
    warmup = v.get("warmup_steps", 0)
    ratio = v.get("warmup_ratio")
    if isinstance(warmup, (int, float)) and not isinstance(warmup, bool):
        warm = warmup * steps if 0 < warmup < 1 else warmup
        if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and ratio > 0 and "warmup_steps" not in v:
            warm = ratio * steps
        if warm >= steps and warm > 0:
            key = "warmup_steps" if "warmup_steps" in v else "warmup_ratio"
            yield WARMUP_COVERS.diag(f"`{key}` makes {warm:g} warm-up steps, the whole run of {steps} optimizer steps: "
                                     "the learning rate never reaches its value", **config.where(key))


# ----------------------------------------------------------------------------------------------------------------
# Truncation at cutoff_len
# ----------------------------------------------------------------------------------------------------------------
TRUNCATION = rule(
    "LK050", "truncated-samples", WARNING, "Samples longer than `cutoff_len`",
    why="LLaMA-Factory cuts every sample to cutoff_len tokens, splitting the budget between prompt and response "
        "(data/processor/processor_utils.py infer_seqlen; with `packing`, one token less, and the packed "
        "processor truncates the same way). Long samples lose part of their answer and train on a cut target, "
        "or lose part of their prompt and train the model to answer inputs it never saw. Counted with the "
        "model's tokenizer when it is on this machine (the model folder, the Hugging Face, ModelScope or openMind "
        "cache), else the `tokens` extra's vocabulary (Qwen2/2.5/3, Llama 3), else an estimate calibrated per "
        "tokenizer family, given with its measured error band; the chat template's own tokens count too.",
    fix="Raise cutoff_len (within the model's context), or shorten/split the long samples.",
    bad=_project("dataset: alpaca_demo\ncutoff_len: 4\n",
                 data='[{"instruction": "' + "word " * 200 + '", "input": "", "output": "' + "answer " * 200 + '"}]\n'),
    good=_project("dataset: alpaca_demo\ncutoff_len: 2048\n"), target="train.yaml",
    covers=("DS012",), scope=DATASET,  # the data's own estimate (DS012) is this finding, said at the config
)


MAX_SAMPLES = rule(
    "LK090", "max-samples-keeps-first-records", INFO, "`max_samples` keeps the first records of each dataset",
    why="LLaMA-Factory truncates each dataset to its first `max_samples` records, in file order "
        "(data/loader.py `dataset.select(range(max_samples))`), not a random sample; with `num_samples` in "
        "dataset_info.json, the first of that random draw. Records past it are never trained on, and a file sorted "
        "by topic or length trains on one end only.",
    fix="Shuffle the file first if a random subset is meant, or set `num_samples` in dataset_info.json; remove "
        "`max_samples` to train on everything.",
    bad=_project("dataset: alpaca_demo\nmax_samples: 1\n", data='[{"instruction": "a", "input": "", "output": "b"},'
                 ' {"instruction": "c", "input": "", "output": "d"}]\n'),
    good=_project("dataset: alpaca_demo\nmax_samples: 100\n"), target="train.yaml",
)


def _max_samples(config, registry, used) -> Iterator:
    limit = _int(config.values.get("max_samples"))
    if limit is None or limit < 1 or config.values.get("streaming") is True or registry is None:
        return
    for key in ("dataset", "eval_dataset"):
        for name in split_names(config.values.get(key)):
            entry, result = registry.entries.get(name), used.get(name)
            if entry is None or result is None:
                continue
            facts = getattr(result, "facts", None)
            records = _int(entry.num_samples)
            order = ("of its `num_samples` random draw" if records is not None and records >= 0
                     else "in file order, not a random sample")
            if records is None or records < 0:
                records = facts.samples if facts is not None else None
            if records is None or records <= limit:
                continue
            yield MAX_SAMPLES.diag(f"`max_samples: {limit}` keeps the first {limit:,} of the {records:,} records of "
                                   f"`{name}`, {order}: {records - limit:,} are left out. Shuffle the file first if "
                                   "a random subset is meant", dataset=name, **config.where("max_samples", key))


def _truncation(config, used) -> Iterator:
    from lfgate.tokens import report
    from lfgate.tokens.counters import describe
    from lfgate.tokens.sample import plan_for

    plan = None
    for name, result in used.items():
        sample_facts = getattr(result, "facts", None)
        facts = sample_facts.truncation if sample_facts is not None else None
        if facts is None:
            continue
        level = report.severity_name(facts)
        if level is None:
            continue
        stage = config.values.get("stage", "sft")
        plan = plan or plan_for(config.values, stage=DATA_STAGE.get(stage) if isinstance(stage, str) else None,
                                resolve=config.resolve)
        how = describe(plan.spec, report.band_kind(facts))
        if plan.template is None:
            how += (f"; message text only: lfgate does not model the `{plan.template_name}` template's tokens"
                    if plan.template_name else "; message text only: no template")
        note = " (less one for `packing`)" if plan.packing else ""
        yield TRUNCATION.diag(report.message(facts, how, dataset=name, cutoff_note=note),
                              severity=WARNING if level == "warning" else INFO, dataset=name,
                              affected=facts["exceeding"], details=report.details(facts),
                              **config.where("cutoff_len", "dataset"))


# ----------------------------------------------------------------------------------------------------------------
def _check_model_files(config) -> Iterator:
    """LK034/LK035 (validator/model_folder.py): config.json fields that disagree, a folder without a tokenizer."""
    from lfgate.validator.model_folder import check_model_folder

    folder = _local_model(config)
    if folder is not None:
        yield from check_model_folder(config, folder, _read_json(os.path.join(folder, "config.json")))


def check_links(config, registry, registry_path, used, settings) -> List:
    if getattr(config, "engine", "v0") == "v1":
        return []
    found: List = []
    if getattr(config, "entry", "train") == "eval":  # `template: fewshot` is eval's own template
        return list(_check_model_folder(config))
    if getattr(config, "entry", "train") != "train":  # chat/export: the model and its template still matter
        found.extend(_check_template(config, {}))
        found.extend(_check_model_folder(config))
        found.extend(_check_model_files(config))
        return found
    found.extend(_check_names(config, registry, registry_path))
    found.extend(_check_media_dir(config))
    found.extend(_check_stage(config, registry))
    found.extend(_check_template(config, used))
    found.extend(_check_model_folder(config))
    found.extend(model_families.check_lora_target(config, settings))
    found.extend(_check_model_files(config))
    found.extend(_budget(config, registry, used, settings))
    found.extend(pretrain.check(config, registry, used))
    found.extend(cached_data.check(config, registry, settings))
    found.extend(_truncation(config, used))
    found.extend(_max_samples(config, registry, used))
    return found
