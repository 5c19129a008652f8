"""A training YAML as the built-in runner reads it: LLaMA-Factory's keys, meanings and defaults.

Keys of transformers' TrainingArguments go to the Trainer as they are. The model, data and fine-tuning keys
the runner implements are read here with LLaMA-Factory 0.9.5's defaults (lfgate/schemas/train.schema.json).
Any other LLaMA-Factory key set to a non-default value is something the runner would silently not do, so
``unsupported()`` lists it and the launch is refused (rule RN005), pointing to ``--backend llamafactory``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from lfgate.lf_facts import split_names
from lfgate.validator import train_schema
from lfgate.validator.training.config import TrainingConfig

STAGES = ("sft",)
FINETUNING_TYPES = ("lora",)

# LLaMA-Factory keys the runner implements (besides every TrainingArguments key).
IMPLEMENTED = {
    # model
    "model_name_or_path", "trust_remote_code", "cache_dir", "model_revision", "hf_hub_token", "ms_hub_token",
    "om_hub_token", "use_fast_tokenizer", "disable_gradient_checkpointing", "flash_attn", "infer_dtype",
    "low_cpu_mem_usage", "offload_folder", "use_cache", "resize_vocab", "print_param_status",
    # method
    "stage", "do_train", "finetuning_type", "lora_rank", "lora_alpha", "lora_dropout", "lora_target",
    "additional_target", "use_rslora", "use_dora", "plot_loss", "compute_accuracy",
    # data
    "dataset", "eval_dataset", "dataset_dir", "media_dir", "template", "cutoff_len", "max_samples", "val_size",
    "train_on_prompt", "mask_history", "default_system", "tool_format", "enable_thinking",
    "ignore_pad_token_for_loss", "packing", "neat_packing", "preprocessing_batch_size",
    "preprocessing_num_workers",
}
# Keys that only tune how LLaMA-Factory itself preprocesses or logs; nothing to do for the runner.
NO_EFFECT = {
    "overwrite_cache", "tokenized_path", "buffer_size",
    "data_shared_file_system", "dataloader_num_workers", "ddp_timeout", "include_num_input_tokens_seen",
    "include_effective_tokens_per_second", "overwrite_output_dir", "use_v1_kernels", "hf_hub_token",
    "ms_hub_token", "om_hub_token", "trust_remote_code", "freeze_vision_tower", "freeze_multi_modal_projector",
    "freeze_language_model", "image_max_pixels", "image_min_pixels", "video_max_pixels", "video_min_pixels",
    "video_fps", "video_maxlen", "crop_to_patches", "use_audio_in_video", "audio_sampling_rate",
}
_LF_CLASSES = ("ModelArguments", "DataArguments", "FinetuningArguments", "GeneratingArguments",
               "EvaluationArguments", "MegatronBridgeArguments")


def lf_default(key: str) -> Any:
    return (train_schema.properties().get(key) or {}).get("default")


def is_training_argument(key: str) -> bool:
    return (train_schema.properties().get(key) or {}).get("x-class") == "TrainingArguments"


class RunConfig(TrainingConfig):
    """The config one run uses: the checker's TrainingConfig (the same values, positions and ``get``, with
    LLaMA-Factory's defaults), plus the fields the recipe reads. ``values`` is the YAML after overrides."""

    def __init__(self, path: str, values: Dict[str, Any], positions: Optional[Dict[str, Tuple[int, int]]] = None,
                 base_dir: Optional[str] = None):
        super().__init__(path=path, base_dir=base_dir or os.getcwd(), values=values, positions=dict(positions or {}))

    # -- the fields the recipe reads, with LLaMA-Factory's defaults ------------------------------------
    @property
    def stage(self) -> str:
        return str(self.get("stage", "sft"))

    @property
    def finetuning_type(self) -> str:
        return str(self.get("finetuning_type", "lora"))

    @property
    def lora_rank(self) -> int:
        return int(self.get("lora_rank", 8))

    @property
    def lora_alpha(self) -> float:
        alpha = self.values.get("lora_alpha")
        return alpha if alpha is not None else self.lora_rank * 2

    @property
    def lora_target(self) -> List[str]:
        return split_names(self.get("lora_target", "all"))

    @property
    def additional_target(self) -> Optional[List[str]]:
        value = self.values.get("additional_target")
        return split_names(value) if value else None

    @property
    def datasets(self) -> List[str]:
        return split_names(self.values.get("dataset"))

    @property
    def eval_datasets(self) -> List[str]:
        return split_names(self.values.get("eval_dataset"))

    @property
    def dataset_dir(self) -> str:
        return str(self.get("dataset_dir", "data"))

    @property
    def output_dir(self) -> str:
        return str(self.values.get("output_dir") or "trainer_output")

    @property
    def gradient_checkpointing(self) -> bool:
        # LLaMA-Factory turns it on unless disable_gradient_checkpointing (model_utils/checkpointing.py)
        return not bool(self.get("disable_gradient_checkpointing", False)) or bool(
            self.values.get("gradient_checkpointing"))


def load(path: str, overrides: Optional[Dict[str, str]] = None) -> RunConfig:
    """The YAML read as OmegaConf reads it (lfgate's YAML reader), then the key=value overrides."""
    from lfgate.overrides import apply_overrides, top_level_keys
    from lfgate.readers.yaml_reader import load_file

    doc = load_file(path)
    if not doc.readable or not isinstance(doc.value, dict):
        raise ValueError(f"{path} is not a readable mapping of training keys")
    values = dict(doc.value)
    positions = {p[0]: pos for p, pos in doc.key_positions.items() if len(p) == 1 and isinstance(p[0], str)}
    apply_overrides(values, overrides or {})
    for key in top_level_keys(overrides or {}):
        positions.pop(key, None)
    return RunConfig(path=path, values=values, positions=positions)


def unsupported(config: RunConfig) -> List[Tuple[str, Any]]:
    """LLaMA-Factory keys set to something the runner does not do: (key, value), in file order."""
    props = train_schema.properties()
    out = []
    for key, value in config.values.items():
        spec = props.get(key)
        if spec is None or spec.get("x-class") not in _LF_CLASSES:
            continue  # TrainingArguments keys are honoured; unknown keys are `lfgate check`'s business
        if key in IMPLEMENTED or key in NO_EFFECT or spec.get("x-class") == "GeneratingArguments":
            continue
        if spec.get("x-class") == "EvaluationArguments":
            continue  # only read by `llamafactory-cli eval`
        if value is None or value == spec.get("default") or (value is False and spec.get("default") is None):
            continue
        out.append((key, value))
    return out + _saved_dataset(config)


def _saved_dataset(config: RunConfig) -> List[Tuple[str, Any]]:
    """tokenized_path naming a saved dataset: LLaMA-Factory trains that and ignores the data keys (loader.py
    get_dataset); the runner would tokenize the YAML's datasets. A path not there yet only gets written by
    LLaMA-Factory, which changes nothing in the run."""
    path = config.values.get("tokenized_path")
    if isinstance(path, str) and os.path.isdir(path) and os.listdir(path):
        return [("tokenized_path", path)]
    return []
