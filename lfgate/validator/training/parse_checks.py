"""TY3xx: the checks of LLaMA-Factory's own argument parsing (``get_train_args``), all reported together
(``../shared/spec/llamafactory-0.9.5-train-checks.md``, rows A*/B*/C*).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Tuple

from lfgate.lf_facts import split_names
from lfgate.readers import guarded
from lfgate.registry import ERROR, INFO, PLACE, rule
from lfgate.validator import train_schema
from lfgate.validator.training.config import BASE, TrainingConfig, _y


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
        return len(split_names(self.dataset))

    @property
    def n_eval_datasets(self) -> int:
        return len(split_names(self.eval_dataset))


def _deepspeed_stage(config: TrainingConfig) -> Optional[int]:
    ds = config.values.get("deepspeed")
    data = ds if isinstance(ds, dict) else None
    if isinstance(ds, str) and ds:
        try:
            with guarded.open_regular(config.resolve(ds), "r", encoding="utf-8") as f:
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
        bad_base=BASE, covers=(), scope=PLACE):
    """One check of LLaMA-Factory's parser: its rule (documented by the message it raises) and its test."""
    raised = message.split(": ", 1)[-1]
    r = rule(code, name, severity, title,
             why=why or f"LLaMA-Factory's argument parsing stops the run: {raised}",
             fix=fix or "Change one of the keys the message names.",
             bad={**_y(bad, bad_base), **(files or {})}, good={**_y(good), **(files or {})}, target="train.yaml",
             covers=covers, scope=scope)
    return ParseCheck(r, keys, test, message)


_ZERO3 = {"ds_z3.json": '{"zero_optimization": {"stage": 3}}'}

PARSE_CHECKS: List[ParseCheck] = [
    _lf("TY301", "missing-model", "`model_name_or_path` is missing", ("model_name_or_path",),
        lambda v: not v.has("model_name_or_path"),
        "`model_name_or_path` is missing: LLaMA-Factory raises `Please provide `model_name_or_path`.`",
        "dataset: a\n", "dataset: a\n", bad_base=BASE.replace("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n", "")),
    _lf("TY302", "pixels-min-max", "Maximum pixels below minimum pixels",
        ("image_max_pixels", "image_min_pixels", "video_max_pixels", "video_min_pixels"),
        lambda v: (_num(v.image_max_pixels) < _num(v.image_min_pixels)
                   or _num(v.video_max_pixels) < _num(v.video_min_pixels)),
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
    _lf("TY306", "interleave-probs-concat", "`interleave_probs` with concat mixing",
        ("interleave_probs", "mix_strategy"),
        lambda v: v.has("interleave_probs") and (v.mix_strategy or "concat") == "concat",
        "`interleave_probs` needs an interleave `mix_strategy` (not `concat`): LLaMA-Factory raises "
        "`interleave_probs` is only valid for interleaved mixing.", "dataset: a,b\ninterleave_probs: 0.5,0.5\n",
        "dataset: a,b\nmix_strategy: interleave_under\ninterleave_probs: 0.5,0.5\n"),
    _lf("TY307", "interleave-probs-length", "`interleave_probs` and `dataset` differ in length",
        ("interleave_probs", "dataset"),
        lambda v: v.has("interleave_probs") and (v.mix_strategy or "concat") != "concat" and (
            (v.n_datasets and len(split_names(v.interleave_probs)) != v.n_datasets)
            or (v.n_eval_datasets and len(split_names(v.interleave_probs)) != v.n_eval_datasets)),
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
    _lf("TY311", "eval-steps-missing", "Step evaluation with no step count",
        ("eval_strategy", "eval_steps", "logging_steps"),
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
        "dataset: a\nval_size: 0.1\nload_best_model_at_end: true\neval_strategy: steps\neval_steps: 30\n"
        "save_steps: 100\n",
        "dataset: a\nval_size: 0.1\nload_best_model_at_end: true\neval_strategy: steps\neval_steps: 50\n"
        "save_steps: 100\n"),
    _lf("TY315", "fp16-and-bf16", "`fp16` and `bf16` together", ("bf16", "fp16", "bf16_full_eval", "fp16_full_eval"),
        lambda v: (bool(v.fp16) and bool(v.bf16)) or (bool(v.fp16_full_eval) and bool(v.bf16_full_eval)),
        "`fp16` and `bf16` are both on: transformers raises `At most one of fp16 and bf16 can be True, but not "
        "both`. Keep bf16 on GPUs that support it", "dataset: a\nbf16: true\nfp16: true\n", "dataset: a\nbf16: true\n"),
    _lf("TY316", "scheduler-needs-eval", "A scheduler that needs evaluation, without evaluation",
        ("lr_scheduler_type", "eval_strategy"),
        lambda v: (str(v.lr_scheduler_type) in ("reduce_lr_on_plateau", "greedy")
                   and str(v.eval_strategy or "no") == "no"),
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
        "is only valid for sigmoid loss function.",
        "dataset: a\nstage: dpo\npref_loss: ipo\ndpo_label_smoothing: 0.1\n",
        "dataset: a\nstage: dpo\npref_loss: sigmoid\ndpo_label_smoothing: 0.1\n"),
    _lf("TY323", "llama-pro-full", "`use_llama_pro` with full fine-tuning", ("use_llama_pro", "finetuning_type"),
        lambda v: bool(v.use_llama_pro) and v.finetuning_type == "full",
        "`use_llama_pro` needs `finetuning_type` freeze or lora: LLaMA-Factory raises `use_llama_pro` is only "
        "valid for Freeze or LoRA training.", "dataset: a\nfinetuning_type: full\nuse_llama_pro: true\n",
        "dataset: a\nfinetuning_type: freeze\nuse_llama_pro: true\n"),
    _lf("TY324", "lora-with-galore", "LoRA with GaLore, APOLLO or BAdam",
        ("use_galore", "use_apollo", "use_badam", "finetuning_type"),
        lambda v: v.finetuning_type == "lora" and any(bool(x) for x in (v.use_galore, v.use_apollo, v.use_badam)),
        "`finetuning_type: lora` cannot be combined with `use_galore`/`use_apollo`/`use_badam`: LLaMA-Factory "
        "raises `Cannot use LoRA with GaLore, APOLLO or BAdam together.` Use finetuning_type: full",
        "dataset: a\nuse_galore: true\n", "dataset: a\nfinetuning_type: full\nuse_galore: true\n"),
    _lf("TY325", "galore-apollo-badam", "More than one of GaLore, APOLLO, BAdam",
        ("use_galore", "use_apollo", "use_badam"),
        lambda v: sum(bool(x) for x in (v.use_galore, v.use_apollo, v.use_badam)) > 1,
        "`use_galore`, `use_apollo` and `use_badam` exclude each other: LLaMA-Factory raises `Cannot use GaLore, "
        "APOLLO or BAdam together.`", "dataset: a\nfinetuning_type: full\nuse_galore: true\nuse_badam: true\n",
        "dataset: a\nfinetuning_type: full\nuse_galore: true\n"),
    _lf("TY326", "pissa-stage", "PiSSA with a stage that cannot use it", ("pissa_init", "stage", "pref_loss"),
        lambda v: bool(v.pissa_init) and (
            v.stage in ("ppo", "kto") or (v.stage == "dpo" and (v.pref_loss or "sigmoid") not in ("orpo", "simpo"))),
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
        "do not support `load_best_model_at_end`.`",
        "dataset: a\nstage: rm\nval_size: 0.1\neval_strategy: steps\neval_steps: 100\nsave_steps: 100\n"
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
                                           for x in (split_names(v.report_to) or ["none"])),
        "`stage: ppo` logs only to wandb, tensorboard or trackio (`report_to`): LLaMA-Factory raises `PPO only "
        "accepts wandb, tensorboard, or trackio logger.`",
        "dataset: a\nstage: ppo\nreward_model: r\nreport_to: mlflow\n",
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
        "`max_steps` in streaming mode.`", "dataset: a\nstreaming: true\n",
        "dataset: a\nstreaming: true\nmax_steps: 1000\n"),
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
    _lf("TY338", "generate-zero3", "`predict_with_generate` with DeepSpeed ZeRO-3",
        ("predict_with_generate", "deepspeed"),
        lambda v: bool(v.predict_with_generate) and v.zero3,
        "`predict_with_generate` cannot run under DeepSpeed ZeRO-3: LLaMA-Factory raises `predict_with_generate` "
        "is incompatible with DeepSpeed ZeRO-3.",
        "eval_dataset: a\npredict_with_generate: true\ndeepspeed: ds_z3.json\n",
        "eval_dataset: a\npredict_with_generate: true\n", files=_ZERO3),
    _lf("TY339", "generate-accuracy", "`predict_with_generate` with `compute_accuracy`",
        ("compute_accuracy", "predict_with_generate"),
        lambda v: bool(v.predict_with_generate) and bool(v.compute_accuracy),
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
        "PiSSA in DeepSpeed ZeRO-3.`", "dataset: a\npissa_init: true\ndeepspeed: ds_z3.json\n",
        "dataset: a\npissa_init: true\n", files=_ZERO3),
    _lf("TY342", "pure-bf16-zero3", "`pure_bf16` with ZeRO-3", ("pure_bf16", "deepspeed"),
        lambda v: bool(v.pure_bf16) and v.zero3,
        "`pure_bf16` with DeepSpeed ZeRO-3: LLaMA-Factory raises `pure_bf16` is incompatible with DeepSpeed ZeRO-3.",
        "dataset: a\npure_bf16: true\ndeepspeed: ds_z3.json\n", "dataset: a\npure_bf16: true\n", files=_ZERO3),
    _lf("TY343", "deepspeed-galore", "DeepSpeed with GaLore or APOLLO", ("use_galore", "use_apollo", "deepspeed"),
        lambda v: v.has("deepspeed") and (bool(v.use_galore) or bool(v.use_apollo)),
        "`deepspeed` cannot be combined with `use_galore`/`use_apollo`: LLaMA-Factory raises `GaLore and APOLLO "
        "are incompatible with DeepSpeed yet.`",
        "dataset: a\nfinetuning_type: full\nuse_galore: true\ndeepspeed: ds_z3.json\n",
        "dataset: a\nfinetuning_type: full\nuse_galore: true\n", files=_ZERO3),
    _lf("TY344", "fp8-quantization", "FP8 training with quantization", ("fp8", "quantization_bit"),
        lambda v: bool(v.fp8) and v.has("quantization_bit"),
        "`fp8` and `quantization_bit` exclude each other: LLaMA-Factory raises `FP8 training is not compatible with "
        "quantization.`", "dataset: a\nfp8: true\nquantization_bit: 4\n", "dataset: a\nfp8: true\n"),
    _lf("TY345", "infer-backend-in-training", "A vLLM/SGLang backend in a training config", ("infer_backend",),
        lambda v: str(v.infer_backend or "huggingface") != "huggingface",
        "`infer_backend` other than huggingface in training: LLaMA-Factory raises `vLLM/SGLang backend is only "
        "available for API, CLI and Web.`", "dataset: a\ninfer_backend: vllm\n", "dataset: a\n",
        covers=("TY202",)),  # a misspelt backend raises the same, at the same key
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
            v.has("adapter_name_or_path")
            and (bool(v.create_new_adapter) or len(split_names(v.adapter_name_or_path)) > 1))),
        "`quantization_bit` cannot be combined with `pissa_init`, `resize_vocab`, `create_new_adapter` or several "
        "adapters: LLaMA-Factory raises (e.g. `Cannot resize embedding layers of a quantized model.`)",
        "dataset: a\nquantization_bit: 4\nresize_vocab: true\n", "dataset: a\nquantization_bit: 4\n"),
    _lf("TY350", "trackio-project", "Trackio without `project`", ("report_to", "project"),
        lambda v: "trackio" in split_names(v.report_to) and "project" in v._c.values and not v.has("project"),
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
    good={**_y("dataset: a\noverwrite_output_dir: true\n"),
          "saves/qwen2.5-0.5b/lora/sft/adapter_model.safetensors": "x"},
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
