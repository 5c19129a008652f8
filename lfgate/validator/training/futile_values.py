"""Training values that LLaMA-Factory accepts but that silently do nothing, or that cannot work.

LLaMA-Factory's parser checks combinations of keys (TY3xx); it never checks most single values. A `.nan`
learning rate, a batch size of 0 or a `save_steps` under `save_strategy: epoch` pass its parser, and the run then
fails in the forward pass, trains nothing, or ignores the setting. Rules TY4xx, one small check each.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Iterator, List, Union

from lfgate.lf_facts import split_names
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator.training.config import TrainingConfig, _y

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations are never evaluated at runtime here


def _number(value: Any) -> TypeGuard[Union[int, float]]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _set(config: TrainingConfig, key: str) -> bool:
    """The config writes the key with a value (not null)."""
    return config.values.get(key) is not None


NON_FINITE = rule(
    "TY401", "non-finite-number", ERROR, "A number that is NaN or infinite",
    why="YAML reads `.nan` and `.inf` as floats and LLaMA-Factory passes them on unchecked: a NaN learning rate "
        "turns every weight into NaN at the first step, a NaN `val_size` or `save_steps` fails deep in datasets or "
        "the Trainer, an infinite `num_train_epochs` overflows the step count (OverflowError).",
    fix="Write a finite number.",
    bad=_y("dataset: a\nlearning_rate: .nan\n"), good=_y("dataset: a\nlearning_rate: 1.0e-4\n"), target="train.yaml",
)
STEPS_IGNORED = rule(
    "TY402", "steps-without-steps-strategy", WARNING, "A step interval under a strategy that is not `steps`",
    why="transformers reads `save_steps` only with `save_strategy: steps`, `eval_steps` only with "
        "`eval_strategy: steps` (its default is `no`) and `logging_steps` only with `logging_strategy: steps`: "
        "with another strategy the interval silently does nothing.",
    fix="Set the matching strategy to `steps`, or delete the interval.",
    bad=_y("dataset: a\nval_size: 0.1\neval_steps: 100\n"),
    good=_y("dataset: a\nval_size: 0.1\neval_strategy: steps\neval_steps: 100\n"), target="train.yaml",
)
WARMUP_BOTH = rule(
    "TY403", "warmup-steps-and-ratio", WARNING, "`warmup_steps` together with `warmup_ratio`",
    why="transformers uses `warmup_steps` when it is above 0 and then ignores `warmup_ratio` "
        "(TrainingArguments.get_warmup_steps, transformers 4.x); only one of the two takes effect.",
    fix="Keep one: `warmup_steps` (a float below 1 is a ratio of the run).",
    bad=_y("dataset: a\nwarmup_steps: 100\nwarmup_ratio: 0.1\n"), good=_y("dataset: a\nwarmup_steps: 0.1\n"),
    target="train.yaml",
)
EARLY_STOPPING = rule(
    "TY404", "early-stopping-without-eval", ERROR, "`early_stopping_steps` without evaluation or a metric",
    why="LLaMA-Factory adds transformers' EarlyStoppingCallback, which asserts at the start of training that "
        "`metric_for_best_model` is set (or `load_best_model_at_end`, which defaults it to the loss) and that "
        "`eval_strategy` is not `no` (transformers/trainer_callback.py).",
    fix="Evaluate (`val_size` or `eval_dataset`, `eval_strategy: steps`) and set `metric_for_best_model: "
        "eval_loss`, or delete `early_stopping_steps`.",
    bad=_y("dataset: a\nearly_stopping_steps: 3\n"),
    good=_y("dataset: a\nearly_stopping_steps: 3\nval_size: 0.1\neval_strategy: steps\neval_steps: 100\n"
            "metric_for_best_model: eval_loss\n"),
    target="train.yaml",
)
GRADIENT_CHECKPOINTING = rule(
    "TY405", "gradient-checkpointing-false", WARNING, "`gradient_checkpointing: false` does not turn it off",
    why="LLaMA-Factory enables gradient checkpointing on every trainable model unless "
        "`disable_gradient_checkpointing` is true (model/model_utils/checkpointing.py); transformers' "
        "`gradient_checkpointing: false` changes nothing.",
    fix="Write `disable_gradient_checkpointing: true` to turn it off.",
    bad=_y("dataset: a\ngradient_checkpointing: false\n"),
    good=_y("dataset: a\ndisable_gradient_checkpointing: true\n"),
    target="train.yaml",
)
PACKING_IGNORED = rule(
    "TY406", "packing-ignored", WARNING, "`packing` in a stage that never packs",
    why="LLaMA-Factory packs sequences only for `stage: sft` (without generation) and `stage: pt` "
        "(data/loader.py, get_dataset_processor); rm, dpo, kto and ppo read their data unpacked and ignore it.",
    fix="Delete `packing`, or train with `stage: sft`.",
    bad=_y("dataset: a\nstage: dpo\npacking: true\n"), good=_y("dataset: a\npacking: true\n"), target="train.yaml",
)
BATCH_ZERO = rule(
    "TY407", "batch-size-not-positive", ERROR, "A batch size or accumulation count of 0 or less",
    why="torch's DataLoader raises `batch_size should be a positive integer value` for a batch size of 0, and "
        "`gradient_accumulation_steps: 0` divides by zero when the Trainer counts its steps.",
    fix="Use 1 or more.",
    bad=_y("dataset: a\nper_device_train_batch_size: 0\n"), good=_y("dataset: a\nper_device_train_batch_size: 1\n"),
    target="train.yaml",
)
LORA_RANK = rule(
    "TY408", "lora-rank-not-positive", ERROR, "`lora_rank` is 0 or negative",
    why="PEFT's LoraConfig raises `r should be a positive integer value` when the model is wrapped.",
    fix="Use a positive rank such as 8 or 16.",
    bad=_y("dataset: a\nlora_rank: 0\n"), good=_y("dataset: a\nlora_rank: 8\n"), target="train.yaml",
)
LORA_ALPHA = rule(
    "TY409", "lora-alpha-zero", WARNING, "`lora_alpha` of 0 or less",
    why="LLaMA-Factory replaces a falsy `lora_alpha` by `2 * lora_rank` (`lora_alpha or lora_rank * 2`, "
        "hparams/finetuning_args.py), so 0 silently becomes twice the rank; a negative alpha flips the update.",
    fix="Delete `lora_alpha` for the default (twice the rank), or give a positive value.",
    bad=_y("dataset: a\nlora_alpha: 0\n"), good=_y("dataset: a\nlora_alpha: 16\n"), target="train.yaml",
)
LORA_DROPOUT = rule(
    "TY410", "lora-dropout-range", ERROR, "`lora_dropout` outside [0, 1)",
    why="torch.nn.Dropout raises `dropout probability has to be between 0 and 1` outside [0, 1]; at 1 every LoRA "
        "input is zeroed and nothing trains.",
    fix="Use a value such as 0.05 (or 0).",
    bad=_y("dataset: a\nlora_dropout: 1.5\n"), good=_y("dataset: a\nlora_dropout: 0.05\n"), target="train.yaml",
)
NO_EPOCHS = rule(
    "TY411", "no-training-steps", ERROR, "`num_train_epochs` of 0 or less without `max_steps`",
    why="Without a positive `max_steps`, the Trainer runs `num_train_epochs` epochs: 0 or a negative count "
        "trains nothing (the run has 0 or fewer optimizer steps) and saves the untouched model.",
    fix="Use a positive `num_train_epochs`, or set `max_steps`.",
    bad=_y("dataset: a\nnum_train_epochs: 0\n"), good=_y("dataset: a\nnum_train_epochs: 0\nmax_steps: 100\n"),
    target="train.yaml",
)
WANDB_LOGIN = rule(
    "TY412", "wandb-no-login", WARNING, "`report_to: wandb` with no wandb login and no terminal",
    why="Without WANDB_API_KEY, WANDB_MODE or a wandb entry in ~/.netrc, wandb asks for a login at the first "
        "step; with no terminal (CI, nohup, a scheduler) it fails or waits forever (LLaMA-Factory #1372, #3530).",
    fix="Export WANDB_API_KEY (or run `wandb login` once), set WANDB_MODE=offline, or use another `report_to`.",
    bad=_y("dataset: a\nreport_to: wandb\n"), good=_y("dataset: a\nreport_to: tensorboard\n"), target="train.yaml",
)
PLACEHOLDER = rule(
    "TY413", "placeholder-value", INFO, "A placeholder value left in the config",
    why="Example configs carry placeholders such as `your_own_model_checkpoint` or `path/to/model`; left in, "
        "the run fails once it tries to load them.",
    fix="Replace the placeholder with the real path or name.",
    bad=_y("dataset: a\nadapter_name_or_path: your_own_lora_checkpoint\n"),
    good=_y("dataset: a\nadapter_name_or_path: saves/qwen2.5-0.5b/lora/sft\n"), target="train.yaml",
)

# Consequences for the keys users hit most; any other number gets the generic text.
_NON_FINITE_EFFECT = {
    "learning_rate": "the optimizer turns every weight into NaN at the first step",
    "val_size": "the train/eval split fails",
    "num_train_epochs": "the Trainer's step count overflows (OverflowError)",
    "warmup_ratio": "the scheduler's warm-up length cannot be computed",
    "warmup_steps": "the scheduler's warm-up length cannot be computed",
}


def _check_non_finite(config: TrainingConfig) -> Iterator:
    for key, value in config.values.items():
        if isinstance(value, float) and not math.isfinite(value) and isinstance(key, str):
            effect = _NON_FINITE_EFFECT.get(key, "LLaMA-Factory passes it on unchecked and the run fails or misbehaves")
            yield NON_FINITE.diag(f"`{key}: {value}` is not a finite number: {effect}. Write a finite value",
                                  **config.where(key))


# interval key -> (its strategy key, the strategy's default in transformers' TrainingArguments)
_INTERVALS = {"save_steps": ("save_strategy", "steps"), "eval_steps": ("eval_strategy", "no"),
              "logging_steps": ("logging_strategy", "steps")}


def _check_ignored_intervals(config: TrainingConfig) -> Iterator:
    for key, (strategy_key, default) in _INTERVALS.items():
        if not _set(config, key):
            continue
        strategy = config.values.get(strategy_key)
        strategy = default if strategy is None else strategy
        if isinstance(strategy, str) and strategy not in ("steps", "best"):
            how = "is not set (its default is `no`)" if strategy_key not in config.values else f"is `{strategy}`"
            yield STEPS_IGNORED.diag(f"`{key}` does nothing: `{strategy_key}` {how}, and transformers reads `{key}` "
                                     f"only with `{strategy_key}: steps`. Set it to `steps`, or delete `{key}`",
                                     **config.where(key))


def _check_schedule(config: TrainingConfig) -> Iterator:
    v = config.values
    steps, ratio = v.get("warmup_steps"), v.get("warmup_ratio")
    if _number(steps) and _number(ratio) and steps > 0 and ratio > 0:
        yield WARMUP_BOTH.diag(f"`warmup_steps: {steps}` and `warmup_ratio: {ratio}` are both set: transformers uses "
                               "warmup_steps and ignores warmup_ratio. Keep one", **config.where("warmup_ratio"))
    early = v.get("early_stopping_steps")
    if _number(early):
        no_eval = str(config.get("eval_strategy") or "no") == "no"
        no_metric = config.get("metric_for_best_model") is None and not config.get("load_best_model_at_end")
        if no_eval or no_metric:
            missing = " and ".join(x for x, bad in (("`eval_strategy` is `no`", no_eval),
                                                    ("no `metric_for_best_model`", no_metric)) if bad)
            yield EARLY_STOPPING.diag(
                f"`early_stopping_steps: {early}` but {missing}: transformers' EarlyStoppingCallback stops the run at "
                "its start (`EarlyStoppingCallback requires ...`). Evaluate with `eval_strategy: steps` and set "
                "`metric_for_best_model: eval_loss`", **config.where("early_stopping_steps"))
    epochs, max_steps = v.get("num_train_epochs"), config.get("max_steps")
    if _number(epochs) and math.isfinite(epochs) and epochs <= 0 and not (_number(max_steps) and max_steps > 0):
        yield NO_EPOCHS.diag(f"`num_train_epochs: {epochs}` without a positive `max_steps`: the run has no optimizer "
                             "step and trains nothing. Use a positive number of epochs or set `max_steps`",
                             **config.where("num_train_epochs"))


def _check_silent(config: TrainingConfig) -> Iterator:
    v = config.values
    if v.get("gradient_checkpointing") is False and not v.get("disable_gradient_checkpointing"):
        yield GRADIENT_CHECKPOINTING.diag(
            "`gradient_checkpointing: false` changes nothing: LLaMA-Factory turns gradient checkpointing on unless "
            "`disable_gradient_checkpointing: true`. Write that instead", **config.where("gradient_checkpointing"))
    stage = str(config.stage)
    if v.get("packing") is True and stage in ("rm", "dpo", "kto", "ppo"):
        yield PACKING_IGNORED.diag(f"`packing: true` does nothing with `stage: {stage}`: LLaMA-Factory packs only for "
                                   "sft and pt. Delete it", **config.where("packing"))


def _check_sizes(config: TrainingConfig) -> Iterator:
    v = config.values
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps", "per_device_eval_batch_size"):
        value = v.get(key)
        if _number(value) and value <= 0:
            effect = ("divides by zero when the Trainer counts its steps" if key == "gradient_accumulation_steps"
                      else "makes torch's DataLoader raise `batch_size should be a positive integer value`")
            yield BATCH_ZERO.diag(f"`{key}: {value}` {effect}: use 1 or more", **config.where(key))
    if str(config.get("finetuning_type") or "lora") != "lora":
        return
    rank, alpha, dropout = v.get("lora_rank"), v.get("lora_alpha"), v.get("lora_dropout")
    if _number(rank) and rank <= 0:
        yield LORA_RANK.diag(f"`lora_rank: {rank}`: PEFT raises `r should be a positive integer value`. Use 8 or 16",
                             **config.where("lora_rank"))
    if _number(alpha) and alpha <= 0:
        effect = ("LLaMA-Factory replaces 0 by 2 * lora_rank (`lora_alpha or lora_rank * 2`)" if alpha == 0
                  else "a negative scale reverses every LoRA update")
        yield LORA_ALPHA.diag(f"`lora_alpha: {alpha}`: {effect}. Delete it for the default or give a positive value",
                              **config.where("lora_alpha"))
    if _number(dropout) and math.isfinite(dropout) and not 0 <= dropout < 1:
        effect = ("every LoRA input is zeroed and nothing trains" if dropout == 1
                  else "torch raises `dropout probability has to be between 0 and 1`")
        yield LORA_DROPOUT.diag(f"`lora_dropout: {dropout}`: {effect}. Use a value in [0, 1) such as 0.05",
                                **config.where("lora_dropout"))


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE") or os.environ.get("WANDB_DISABLED"):
        return True
    netrc = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        with open(netrc, encoding="utf-8", errors="replace") as f:
            return "api.wandb.ai" in f.read(1_000_000)
    except OSError:
        return False


def _check_wandb(config: TrainingConfig) -> Iterator:
    if "wandb" not in split_names(config.values.get("report_to")):
        return
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # a closed or detached stdin is no terminal
        interactive = False
    if not interactive and not _wandb_logged_in():
        yield WANDB_LOGIN.diag("`report_to: wandb` but no WANDB_API_KEY, WANDB_MODE or wandb entry in ~/.netrc, and "
                               "no terminal: wandb asks for a login at the first step and fails or waits. Export "
                               "WANDB_API_KEY or WANDB_MODE=offline", **config.where("report_to"))


# Placeholders from LLaMA-Factory's own examples and README (`your_own_...`, `path_to_...`) and common ones.
_PLACEHOLDER = re.compile(r"your[_-]own|(?:^|[/_])path[_/]to[_/]|^<[^>]*>$|\byour[_-](?:model|dataset|path|lora)|"
                          r"^xxx+$|^todo$|^changeme$", re.I)


def _check_placeholders(config: TrainingConfig) -> Iterator:
    for key, value in config.values.items():
        if isinstance(key, str) and isinstance(value, str) and _PLACEHOLDER.search(value.strip()):
            yield PLACEHOLDER.diag(f"`{key}: {value}` looks like a placeholder from an example config: replace it "
                                   "with the real path or name", **config.where(key))


def check(config: TrainingConfig, settings) -> List:
    """Every TY4xx rule over a training config."""
    found = list(_check_non_finite(config))
    found.extend(_check_placeholders(config))
    if config.entry != "train":
        return found
    for checker in (_check_ignored_intervals, _check_schedule, _check_silent, _check_sizes, _check_wandb):
        found.extend(checker(config))
    return found
