"""Generate lfgate/schemas/train.schema.json and lfgate/schemas/templates.json.

    python scripts/gen_train_schema.py                    # from an installed llamafactory if importable,
                                                          # else from ../shared/spec/llamafactory-0.9.5-*.json
    python scripts/gen_train_schema.py --from-spec DIR    # force the spec dumps in DIR

The installed package is read by introspection (dataclass fields of the parser classes); lfgate itself never
imports llamafactory. Keys that only a newer LLaMA-Factory knows, the Megatron-Bridge engine's keys, the keys
transformers 5 removed and the keys LLaMA-Factory renamed are recorded below by hand, from LLaMA-Factory's
repository (src/llamafactory/hparams/*.py at the commit the corpus comes from) and transformers 4.57's
training_args.py; each says where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_DIR = os.path.join(os.path.dirname(ROOT), "shared", "spec")
OUT_DIR = os.path.join(ROOT, "lfgate", "schemas")

NEWEST_KNOWN = "0.9.6"  # the repository head the corpus comes from reports 0.9.6.dev0

# Keys the repository head (0.9.6.dev0) accepts and 0.9.5 does not (hparams/*.py, parser.py).
NEWER_KEYS = {
    "kt_cpu_activation": dict(cls="ModelArguments", owning="KTransformersArguments", type="str | None",
                              default=None, choices=["retain", "recompute"],
                              help="Whether KTransformers retains CPU expert activations (default: recompute "
                                   "while gradient checkpointing is on, else retain)."),
    "kt_non_expert_weight_path": dict(cls="ModelArguments", owning="KTransformersArguments", type="str | None",
                                      default=None, help="Path to the KT BF16 non-expert weight cache used with "
                                                         "routed INT8 experts."),
    "kt_config": dict(cls="TrainingArguments", owning="transformers-kt TrainingArguments",
                      type="dict[str, Any] | None", default=None,
                      help="Advanced KTransformers settings (a flat mapping), read with use_kt."),
    "use_megatron_bridge": dict(cls="FinetuningArguments", owning="FinetuningArguments", type="bool", default=False,
                                help="Whether or not to use Megatron Bridge training backend. Controlled by "
                                     "USE_MEGATRON_BRIDGE environment variable."),
    "hyper_parallel_cp_size": dict(cls="FinetuningArguments", owning="FinetuningArguments", type="int", default=1,
                                   help="Context parallel size used when `use_hyper_parallel=True`."),
}

# hparams/megatron_bridge_args.py (head): only parsed with USE_MEGATRON_BRIDGE=1.
_MB = "MegatronBridgeArguments"
MEGATRON_BRIDGE_KEYS = {
    "tensor_model_parallel_size": ("int", 1, None, "Tensor model parallel size for Megatron Bridge."),
    "pipeline_model_parallel_size": ("int", 1, None, "Pipeline model parallel size for Megatron Bridge."),
    "expert_model_parallel_size": ("int", 1, None, "Expert model parallel size for MoE models."),
    "context_parallel_size": ("int", 1, None, "Context parallel size for Megatron Bridge."),
    "virtual_pipeline_model_parallel_size": ("int | None", None, None, "Virtual pipeline parallel size."),
    "sequence_parallel": ("bool", False, None, "Whether to enable sequence parallelism."),
    "recompute_granularity": ("str | None", None, None, "Activation recomputation granularity: full or selective."),
    "recompute_method": ("str | None", None, ["uniform", "block"], "Activation recomputation method."),
    "recompute_num_layers": ("int | None", None, None, "Layers per recompute unit."),
    "account_for_embedding_in_pipeline_split": ("bool | None", None, None, "Pipeline split counts the embedding."),
    "account_for_loss_in_pipeline_split": ("bool | None", None, None, "Pipeline split counts the loss layer."),
    "bias_activation_fusion": ("bool | None", None, None, "Enable bias+activation fusion."),
    "apply_rope_fusion": ("bool | None", None, None, "Enable the RoPE fusion kernel."),
    "masked_softmax_fusion": ("bool | None", None, None, "Enable masked softmax fusion."),
    "cross_entropy_loss_fusion": ("bool | None", None, None, "Enable cross-entropy loss fusion."),
    "moe_grouped_gemm": ("bool | None", None, None, "Enable grouped GEMM for MoE experts."),
    "moe_token_dispatcher_type": ("str | None", None, ["allgather", "alltoall", "flex"], "MoE token dispatcher."),
    "calculate_per_token_loss": ("bool | None", None, None, "Compute per-token loss."),
    "use_distributed_optimizer": ("bool", True, None, "Use Megatron's distributed optimizer."),
    "overlap_param_gather": ("bool", True, None, "Overlap parameter all-gather with forward compute."),
    "overlap_grad_reduce": ("bool", True, None, "Overlap gradient all-reduce with backward compute."),
    "use_packed_sequences": ("bool", False, None, "Use packed sequences for SFT efficiency."),
    "mixed_precision": ("str", "bf16_mixed", None, "Mixed precision mode, e.g. bf16_mixed or fp8."),
    "megatron_pretrained_checkpoint": ("str | None", None, None, "A Megatron-format pretrained checkpoint."),
    "export_hf_on_finish": ("bool", False, None, "Export the final checkpoint to Hugging Face format."),
    "extra_config": ("str | None", None, None, "JSON string or file with extra Megatron Bridge overrides."),
}

# mcore_adapter's TrainingArguments (USE_MCA=1) replaces transformers'; these Megatron keys exist only there.
# mcore_adapter is not introspected here; the names are those LLaMA-Factory's own examples/megatron use.
MCA_KEYS = sorted({
    "tensor_model_parallel_size", "pipeline_model_parallel_size", "expert_model_parallel_size",
    "context_parallel_size", "virtual_pipeline_model_parallel_size", "sequence_parallel", "bias_activation_fusion",
    "apply_rope_fusion", "use_distributed_optimizer", "overlap_param_gather", "overlap_grad_reduce",
    "moe_grouped_gemm", "moe_token_dispatcher_type", "recompute_granularity", "recompute_method",
    "recompute_num_layers", "moe_layer_freq", "moe_router_topk", "account_for_embedding_in_pipeline_split",
    "account_for_loss_in_pipeline_split", "calculate_per_token_loss",
})

# TrainingArguments fields of transformers 4.57 that transformers 5 removed (diff of training_args.py against the
# 5.6 fields in the 0.9.5 dump). LLaMA-Factory 0.9.5 accepts transformers 4.55-5.6: with 5.x they are unknown keys.
TRANSFORMERS5_REMOVED = {
    "adafactor": "optim: adafactor",
    "fp16_backend": "nothing (native AMP is always used)",
    "fp16_opt_level": "nothing (apex AMP was removed)",
    "half_precision_backend": "nothing (native AMP is always used)",
    "fsdp_min_num_params": "fsdp_config: {min_num_params: N}",
    "fsdp_transformer_layer_cls_to_wrap": "fsdp_config: {transformer_layer_cls_to_wrap: [...]}",
    "group_by_length": "train_sampling_strategy: group_by_length",
    "include_inputs_for_metrics": "include_for_metrics: [inputs]",
    "include_tokens_per_second": "include_num_input_tokens_seen",
    "jit_mode_eval": "nothing",
    "mp_parameters": "nothing",
    "no_cuda": "use_cpu: true",
    "past_index": "nothing",
    "per_gpu_eval_batch_size": "per_device_eval_batch_size",
    "per_gpu_train_batch_size": "per_device_train_batch_size",
    "push_to_hub_model_id": "hub_model_id",
    "push_to_hub_organization": "hub_model_id",
    "push_to_hub_token": "hub_token",
    "ray_scope": "nothing",
    "save_safetensors": "nothing (safetensors is always used)",
    "torchdynamo": "torch_compile_backend",
    "tpu_metrics_debug": "debug: tpu_metrics_debug",
    "tpu_num_cores": "nothing",
    "use_legacy_prediction_loop": "nothing",
    "use_mps_device": "nothing (MPS is used when available)",
}
TRANSFORMERS5_VERSION = "5.0"

# Keys older LLaMA-Factory (or transformers) versions used, with their replacement (LLaMA-Factory's changelog).
RENAMED = {
    "evaluation_strategy": ("eval_strategy", "transformers 4.46"),
    "dpo_beta": ("pref_beta", "LLaMA-Factory 0.8.0"),
    "orpo_beta": ("pref_beta", "LLaMA-Factory 0.8.0"),
    "dpo_loss": ("pref_loss", "LLaMA-Factory 0.8.0"),
    "dpo_ftx": ("pref_ftx", "LLaMA-Factory 0.8.0"),
    "sft_packing": ("packing", "LLaMA-Factory 0.7.0"),
    "neft_alpha": ("neftune_noise_alpha", "LLaMA-Factory 0.7.0"),
    "name_module_trainable": ("freeze_trainable_modules", "LLaMA-Factory 0.8.0"),
    "num_layer_trainable": ("freeze_trainable_layers", "LLaMA-Factory 0.8.0"),
    "max_source_length": ("cutoff_len", "LLaMA-Factory 0.5.0"),
    "max_target_length": ("cutoff_len", "LLaMA-Factory 0.5.0"),
    "image_resolution": ("image_max_pixels", "LLaMA-Factory 0.9.2 (a pixel count: 768*768, not a side length)"),
    "video_resolution": ("video_max_pixels", "LLaMA-Factory 0.9.2 (a pixel count, not a side length)"),
}
# Renamed keys whose value does not mean the same under the new name (x-renamed same_value false): a side length
# is no pixel count, a source length no cutoff.
RENAMED_OTHER_MEANING = {"image_resolution", "video_resolution", "max_source_length", "max_target_length"}


# Templates the repository head registers and 0.9.5 does not (data/template.py register_template calls).
NEWER_TEMPLATES = {
    "hy_dense_1_8b": {"plugin": "BasePlugin", "accepts": [], "efficient_eos": True, "reasoning": False},
    "hy_dense_7b": {"plugin": "BasePlugin", "accepts": [], "efficient_eos": True, "reasoning": False},
    "moss_vl": {"plugin": "MossVLPlugin", "accepts": ["image", "video"], "efficient_eos": False, "reasoning": False},
}


# -- reading the fields ----------------------------------------------------------------------------------------
def fields_from_spec(spec_dir: str):
    with open(os.path.join(spec_dir, "llamafactory-0.9.5-args.json"), encoding="utf-8") as f:
        dump = json.load(f)
    return dump["fields"], dump["versions"], dump["entry_points"]


def _choices(tp, metadata):
    """Allowed values as HfArgumentParser derives them: metadata choices, else Literal/Enum values in the type."""
    import enum
    import typing

    if metadata.get("choices"):
        return list(metadata["choices"])
    found = []

    def walk(t):
        if isinstance(t, type) and issubclass(t, enum.Enum):
            found.extend(m.value for m in t)
        elif typing.get_origin(t) is typing.Literal:
            found.extend(typing.get_args(t))
        else:
            for arg in typing.get_args(t):
                walk(arg)

    walk(tp)
    return found or None


def _type_text(tp) -> str:
    """An annotation as the spec dump writes it: `float`, `str | None`, `transformers.trainer_utils.SchedulerType`."""
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        return tp.__name__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    return str(tp).replace("typing.", "")


def fields_from_installed():  # pragma: no cover - needs llamafactory
    """The same records as the spec dump, read from the installed package."""
    import importlib.metadata as md
    import typing

    from llamafactory.hparams import (
        DataArguments,
        EvaluationArguments,
        FinetuningArguments,
        GeneratingArguments,
        ModelArguments,
        TrainingArguments,
    )

    entry = {"train": [ModelArguments, DataArguments, TrainingArguments, FinetuningArguments, GeneratingArguments],
             "infer": [ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments],
             "eval": [ModelArguments, DataArguments, EvaluationArguments, FinetuningArguments]}
    records = {}
    for point, classes in entry.items():
        for cls in classes:
            try:
                hints = typing.get_type_hints(cls)
            except Exception:  # an annotation that does not resolve: keep the raw ones
                hints = {}
            for f in dataclasses.fields(cls):
                key = (f.name, cls.__name__)
                if key in records:
                    records[key]["entry_points"].append(point)
                    continue
                owner = next((c for c in cls.__mro__ if f.name in getattr(c, "__annotations__", {})), cls)
                default = None
                if f.default is not dataclasses.MISSING:
                    default = f.default
                elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                    default = f.default_factory()  # type: ignore[misc]
                if hasattr(default, "value"):
                    default = default.value
                try:
                    json.dumps(default)
                except TypeError:
                    default = repr(default)
                tp = hints.get(f.name, f.type)
                choices = _choices(tp, f.metadata)
                mod = owner.__module__
                records[key] = {
                    "name": f.name, "class": cls.__name__,
                    "owning_class": (f"transformers.{owner.__name__}" if mod.startswith("transformers")
                                     else owner.__name__),
                    "owning_module": mod, "type": _type_text(tp), "default": default,
                    "settable": f.init, "choices": choices, "help": f.metadata.get("help", ""),
                    "choices_enforced_in_yaml": False, "entry_points": [point],
                }
    versions = {}
    for name in ("llamafactory", "transformers", "datasets", "peft", "trl", "accelerate", "torch"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    versions["python"] = ".".join(map(str, sys.version_info[:3]))
    return list(records.values()), versions, {k: [c.__name__ for c in v] for k, v in entry.items()}


# -- which choices LLaMA-Factory enforces -----------------------------------------------------------------------
# Probed: each choice key set to a value outside its choices, one at a time, through each of LLaMA-Factory's own
# argument parsers (hparams/parser.py) in a Python that has it. A parse that raises enforces the choice at that
# parse; an ImportError (a dependency check that comes first) says nothing about the value.
ENUM_PROBE = r"""
import contextlib, io, json, os, sys
os.environ["DISABLE_VERSION_CHECK"] = "1"
from accelerate.state import AcceleratorState
from llamafactory.hparams import get_eval_args, get_infer_args, get_train_args
parsers = {"train": get_train_args, "infer": get_infer_args, "eval": get_eval_args}
bases, keys, wrong = json.load(sys.stdin)
out = {}
for parser, names in keys.items():
    out[parser] = {}
    for key in names:
        AcceleratorState._reset_state(reset_partial_state=True)  # each probe from a fresh distributed state
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                parsers[parser](dict(bases[parser], **{key: wrong}))
            out[parser][key] = None
        except ImportError:
            out[parser][key] = None
        except Exception as err:
            out[parser][key] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
print("RESULT " + json.dumps(out))
"""
_MODEL = {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "template": "qwen", "finetuning_type": "lora"}
PROBE_BASES = {"train": {**_MODEL, "stage": "sft", "do_train": True, "output_dir": "out", "dataset": "a"},
               "infer": _MODEL, "eval": {**_MODEL, "task": "mmlu_test"}}
# The config entry points (validator/training/reading.py) each parser serves: chat/api and export parse alike.
PARSER_ENTRIES = {"train": ["train"], "infer": ["infer", "export"], "eval": ["eval"]}
WRONG_CHOICE = "lfgate_not_a_choice"
# What a probe's message says badly: ddp_backend fails in a single process whatever its value; the value's own
# check is torch.distributed's (init_process_group raises `Invalid backend`) under torchrun.
PROBE_MESSAGES = {"ddp_backend": "accelerate's PartialState / torch.distributed.init_process_group raises on an "
                                 "unknown backend",
                  "infer_backend": "hparams/parser.py: `vLLM/SGLang backend is only available for API, CLI and Web.`"}
# Without a Python that has llamafactory: what the 0.9.5 probe answered (parser -> key -> error), keys not named
# here parsed without error.
RECORDED_PROBE = {
    "train": {"eval_strategy": "ValueError: <value> is not a valid IntervalStrategy",
              "logging_strategy": "ValueError: <value> is not a valid IntervalStrategy",
              "save_strategy": "ValueError: <value> is not a valid SaveStrategy",
              "hub_strategy": "ValueError: <value> is not a valid HubStrategy",
              "lr_scheduler_type": "ValueError: <value> is not a valid SchedulerType",
              "optim": "ValueError: <value> is not a valid OptimizerNames",
              "finetuning_type": "AssertionError: Invalid fine-tuning method.",
              "ddp_backend": "raises", "infer_backend": "raises"},
    "infer": {"finetuning_type": "AssertionError: Invalid fine-tuning method."},
    "eval": {"finetuning_type": "AssertionError: Invalid fine-tuning method.", "infer_backend": "raises"},
}
_EVERY_ENTRY = ["train", "infer", "export", "eval"]
# Choices LLaMA-Factory accepts while parsing and a later step raises on: where, in which entry points, and
# `when`: the config values (or, for `datasets`, how many datasets) under which that step runs. From the 0.9.5
# sources (file:line) and, for the optimizers LLaMA-Factory hands the value to, theirs.
LATER_RAISES = {
    "stage": [{"where": "train/tuner.py:127 `Unknown task` when training starts", "entries": ["train"]}],
    "log_level": [{"where": "transformers' Trainer.__init__ (trainer.py:414 get_process_log_level: KeyError)",
                   "entries": ["train"]}],
    "log_level_replica": [{"where": "transformers' Trainer.__init__ (trainer.py:414 get_process_log_level: "
                                    "KeyError)", "entries": ["train"]}],
    "flash_attn": [{"where": "model/model_utils/attention.py:85 `Unknown attention type` when the model loads",
                    "entries": _EVERY_ENTRY}],
    "mix_strategy": [{"where": "data/data_utils.py:82 `Unknown mixing strategy` when the datasets are merged",
                      "entries": ["train"], "when": {"datasets": 2}}],
    "pref_loss": [{"where": "train/dpo/trainer.py:201 / trl's dpo_loss `Unknown loss type` at the first step",
                   "entries": ["train"], "when": {"stage": "dpo"}}],
    "badam_mode": [{"where": "train/trainer_utils.py _create_badam_optimizer (no optimizer: UnboundLocalError)",
                    "entries": ["train"], "when": {"use_badam": True}}],
    "galore_proj_type": [{"where": "galore_torch's GaLoreProjector.project (no projection: UnboundLocalError) at "
                                   "the first optimizer step", "entries": ["train"], "when": {"use_galore": True}}],
    "apollo_proj": [{"where": "apollo_torch's _initialize_projector `Invalid projector type specified in group` "
                              "at the first optimizer step", "entries": ["train"], "when": {"use_apollo": True}}],
    "apollo_scale_type": [{"where": "apollo_torch's AdamW.step (no scaling factor: UnboundLocalError) at the first "
                                    "optimizer step", "entries": ["train"], "when": {"use_apollo": True}}],
    "infer_backend": [{"where": "chat/chat_model.py:75 `Unknown backend: <value>` when chat, api or webchat "
                                "starts", "entries": ["infer"]}],
    "lang": [{"where": "eval/template.py:62 `Template <value> does not exist.` when the evaluator starts",
              "entries": ["eval"]}],
    "download_mode": [{"where": "datasets' load_dataset (`'<value>' is not a valid DownloadMode`, "
                                "eval/evaluator.py:101)", "entries": ["eval"]}],
}


def lf_python() -> str | None:
    """A Python that has llamafactory: this one, else ../lfvenv/bin/python (LFGATE_LF_PYTHON names another)."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("llamafactory") is not None:
        return sys.executable
    candidate = os.environ.get("LFGATE_LF_PYTHON") or os.path.join(os.path.dirname(ROOT), "lfvenv", "bin", "python")
    if os.path.exists(candidate) and subprocess.run([candidate, "-c", "import llamafactory.hparams"],
                                                    capture_output=True, timeout=300).returncode == 0:
        return candidate
    return None


def probe_enum_raises(python: str, keys: dict) -> dict:
    """parser (train, infer, eval) -> key -> LLaMA-Factory's error (text, the value as `<value>`) when that parser
    gets a value outside the key's choices, else None. ``keys``: parser -> the choice keys it parses."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        run = subprocess.run([python, "-c", ENUM_PROBE], cwd=work, timeout=900, capture_output=True, text=True,
                             input=json.dumps([PROBE_BASES, {p: sorted(k) for p, k in keys.items()}, WRONG_CHOICE]))
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"the enum probe failed: {run.stderr[-2000:]}")
    answers = json.loads(line[len("RESULT "):])
    return {parser: {k: e and e.replace(WRONG_CHOICE, "<value>") for k, e in said.items()}
            for parser, said in answers.items()}


def probe_keys(properties: dict) -> dict:
    """parser -> the choice keys of LLaMA-Factory 0.9.5's own engine that it parses."""
    keys = {parser: [] for parser in PARSER_ENTRIES}
    for name, prop in properties.items():
        if "enum" in prop and not prop.get("x-since") and prop.get("x-engine", "v0") == "v0":
            for parser in keys:
                if parser in prop["x-entry-points"]:
                    keys[parser].append(name)
    return keys


def enum_raises(properties: dict, probed) -> None:
    """x-enum-raises and x-enum-enforced on every choice key, from the probe (else the recorded one) and
    LATER_RAISES. x-enum-raises: a list of {where, at, entries, when}: where LLaMA-Factory raises (`<value>` stands
    for the value), at "parse" or a later step ("run"), in which config entry points, and `when` (config values
    that must hold; `datasets`: at least that many datasets). x-enum-enforced: a training run raises whatever else
    the config says."""
    probed = probed if probed is not None else RECORDED_PROBE
    for name, prop in properties.items():
        if "enum" not in prop:
            continue
        at_parse: dict = {}  # where -> entries, one raise per message
        for parser, entries in PARSER_ENTRIES.items():
            error = probed.get(parser, {}).get(name)
            if error:
                said = error.split(", please select one of")[0]
                where = PROBE_MESSAGES.get(name) or f"get_{parser}_args: `{said}`"
                at_parse.setdefault(where, []).extend(entries)
        raises = [{"where": where, "at": "parse", "entries": entries, "when": {}}
                  for where, entries in at_parse.items()]
        raises += [{"where": r["where"], "at": "run", "entries": r["entries"], "when": r.get("when", {})}
                   for r in LATER_RAISES.get(name, [])]
        prop["x-enum-enforced"] = any("train" in r["entries"] and not r["when"] for r in raises)
        if raises:
            prop["x-enum-raises"] = raises


# -- building the schema ---------------------------------------------------------------------------------------


def json_types(type_text: str):
    """JSON Schema types for a Python annotation as the dump writes it."""
    text = type_text.replace("Optional[", "None | ").replace("typing.", "")
    text = re.sub(r"\b(dict|list)\[[^\]]*\]", r"\1[]", text)  # dict[str, Any] is an object, not a string
    types = []

    def add(t):
        if t not in types:
            types.append(t)

    if "None" in text:
        add("null")
    if re.search(r"\bbool\b", text):
        add("boolean")
    if re.search(r"\bint\b", text):
        add("integer")
    if re.search(r"\bfloat\b", text):
        add("number")
    if re.search(r"\bdict\b", text):
        add("object")
    if re.search(r"\blist\[", text):
        add("array")
    if re.search(r"\bstr\b|Literal\[|Enum|Strategy|SchedulerType|OptimizerNames|RopeScaling|AttentionFunction"
                 r"|EngineName|QuantizationMethod|DownloadMode|Path", text):
        add("string")
    if "dtype" in text or "ParallelismConfig" in text or "GenerationConfig" in text:
        add("string")
    if "number" in types and "integer" not in types:
        add("integer")  # a YAML `1` is fine for a float field
    return types or ["string"]


def property_for(record: dict, since, engine: str = "v0") -> dict:
    prop = {
        "type": json_types(record["type"]),
        "default": record.get("default"),
        "description": record.get("help") or "",
        "x-python-type": record["type"],
        "x-class": record["class"],
        "x-owning-class": record.get("owning_class", record["class"]),
        "x-entry-points": sorted(set(record.get("entry_points", ["train"]))),
    }
    if since:
        prop["x-since"] = since
    if engine != "v0":
        prop["x-engine"] = engine
    choices = record.get("choices")
    if choices and all(isinstance(c, str) for c in choices) and "array" not in prop["type"]:
        prop["enum"] = list(choices) + ([None] if "null" in prop["type"] else [])
    return prop


def build_train_schema(fields, versions, entry_points, probed=None) -> dict:
    """``probed``: probe_enum_raises' answers for the choice keys (None: no llamafactory to ask)."""
    version = versions.get("llamafactory", "0.9.5")
    properties, not_settable = {}, []
    for record in fields:
        name = record["name"]
        if not record.get("settable", True):
            not_settable.append(name)
            continue
        if name in properties:  # `seed` is both a training and an evaluation key
            points = set(properties[name]["x-entry-points"]) | set(record.get("entry_points", []))
            properties[name]["x-entry-points"] = sorted(points)
            continue
        properties[name] = property_for(record, None)
    for name, info in NEWER_KEYS.items():
        if name not in properties:
            record = {"name": name, "class": info["cls"], "owning_class": info["owning"], "type": info["type"],
                      "default": info["default"], "choices": info.get("choices"), "help": info["help"],
                      "entry_points": ["train", "infer", "eval"] if info["cls"] != "TrainingArguments" else ["train"]}
            properties[name] = property_for(record, NEWEST_KNOWN)
    for name, (tp, default, choices, help_text) in MEGATRON_BRIDGE_KEYS.items():
        if name not in properties:
            record = {"name": name, "class": _MB, "owning_class": _MB, "type": tp, "default": default,
                      "choices": choices, "help": help_text, "entry_points": ["train"]}
            properties[name] = property_for(record, NEWEST_KNOWN, engine="megatron_bridge")
    enum_raises(properties, probed)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://lfgate.invalid/schemas/train.schema.json",
        "title": "LLaMA-Factory training config (llamafactory-cli train CONFIG.yaml)",
        "description": "Every key llamafactory-cli train accepts. Generated by scripts/gen_train_schema.py; "
                       "x-since marks keys only LLaMA-Factory versions newer than "
                       "x-llamafactory-version know (the first one that does); x-engine marks keys of another "
                       "training engine.",
        "type": "object",
        "properties": dict(sorted(properties.items())),
        "additionalProperties": False,
        "x-llamafactory-version": version,
        "x-newest-known-version": NEWEST_KNOWN,
        "x-dependency-versions": versions,
        "x-entry-points": entry_points,
        "x-not-settable": sorted(set(not_settable)),
        "x-transformers5-removed": {"version": TRANSFORMERS5_VERSION, "keys": TRANSFORMERS5_REMOVED},
        "x-renamed": {old: {"key": new, "since": since, "same_value": old not in RENAMED_OTHER_MEANING}
                      for old, (new, since) in RENAMED.items()},
        "x-mca-keys": MCA_KEYS,
    }


def build_templates(spec_dir: str) -> dict:
    """A compact copy of the template registry: what lfgate's rules need and nothing else."""
    with open(os.path.join(spec_dir, "llamafactory-0.9.5-templates.json"), encoding="utf-8") as f:
        dump = json.load(f)
    templates = {}
    for t in dump["templates"]:
        templates[t["name"]] = {
            "plugin": t.get("mm_plugin") or "BasePlugin",
            "accepts": t.get("accepts") or [],
            "efficient_eos": bool(t.get("efficient_eos")),
            "reasoning": bool(t.get("reasoning")),
        }
    for name, info in NEWER_TEMPLATES.items():
        templates.setdefault(name, {**info, "since": NEWEST_KNOWN})
    model_to_template = {}
    for hub_id, template in sorted(dump["hub_id_to_template"].items()):
        if template:
            model_to_template[hub_id.lower()] = template
    return {
        "description": "LLaMA-Factory's chat templates and its model registry (hub id, lower-cased -> template). "
                       "Generated by scripts/gen_train_schema.py from llamafactory-0.9.5-templates.json.",
        "llamafactory_version": dump.get("llamafactory_version", "0.9.5"),
        "templates": templates,
        "model_to_template": model_to_template,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-spec", metavar="DIR", help="read the spec dumps in DIR instead of llamafactory")
    parser.add_argument("--out", default=OUT_DIR, help="output folder (default: lfgate/schemas)")
    parser.add_argument("--no-probe", action="store_true", help="do not ask llamafactory which choices it enforces")
    args = parser.parse_args(argv)
    spec_dir = args.from_spec or SPEC_DIR
    if args.from_spec:
        fields, versions, entry_points = fields_from_spec(spec_dir)
    else:
        try:
            fields, versions, entry_points = fields_from_installed()
        except ImportError:
            print("llamafactory is not importable; using the spec dumps in", spec_dir, file=sys.stderr)
            fields, versions, entry_points = fields_from_spec(spec_dir)
    python = None if args.no_probe else lf_python()
    probed = None
    if python is None:
        print("no Python with llamafactory: enforced choices from the recorded 0.9.5 probe", file=sys.stderr)
    else:
        probed = probe_enum_raises(python, probe_keys(build_train_schema(fields, versions, entry_points)["properties"]))
    os.makedirs(args.out, exist_ok=True)
    outputs = {"train.schema.json": build_train_schema(fields, versions, entry_points, probed),
               "templates.json": build_templates(spec_dir)}
    for name, data in outputs.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False, sort_keys=False)
            f.write("\n")
        print("wrote", os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
