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
from lfgate.readers import guarded
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

OUTPUT_DIR_OVER_PROJECT = rule(
    "TY430", "output-dir-over-project", ERROR, "`output_dir` is the project, the model or the data folder",
    why="LLaMA-Factory writes a dozen files into output_dir and replaces what is there: README.md (the model card), "
        "config.json, the adapter or model weights, the tokenizer files and chat_template.jinja, "
        "training_args.bin, trainer_state.json, all_results.json, trainer_log.jsonl, running_log.txt, plots and "
        "checkpoint folders. Pointed at the project root (`.`), `/` or the base model's folder, the run "
        "overwrites the project's README and the model it trains from (an error); at dataset_dir, it litters "
        "the data folder (a warning).",
    fix="Give every run a folder of its own, e.g. `output_dir: saves/<model>/<method>/<stage>`.",
    bad=_y("dataset: a\noutput_dir: .\n"), good=_y("dataset: a\noutput_dir: saves/qwen2.5-0.5b/lora/sft\n"),
    target="train.yaml",
)
SEED_RANGE = rule(
    "TY431", "seed-out-of-range", ERROR, "`seed` outside 0..2**32 - 1",
    why="LLaMA-Factory calls transformers.set_seed(seed) while it parses the arguments, and numpy's seed must lie "
        "in 0..2**32 - 1: `seed: -1` (\"random\" in other tools) raises `Seed must be between 0 and 2**32 - 1`.",
    fix="Use a seed in 0..4294967295 (LLaMA-Factory's default is 42).",
    bad=_y("dataset: a\nseed: -1\n"), good=_y("dataset: a\nseed: 42\n"), target="train.yaml",
)
BLANK_LIST_ITEM = rule(
    "TY432", "comma-list-blank-item", ERROR, "A comma-separated list with an empty or padded item",
    why="LLaMA-Factory splits `dataset`, `eval_dataset`, `interleave_probs` and the module lists on commas and "
        "keeps every piece (hparams split_arg; a YAML list is taken as it is): `dataset: \"demo,\"` names `demo` "
        "and `` (parser.py raises `Undefined dataset  in dataset_info.json.`), `interleave_probs: \"0.5,\"` fails "
        "float(''), `lora_target: \"all,\"` is no longer `all` (PEFT: `Target modules {'all', ''} not found`), and "
        "`freeze_trainable_modules: \"all,\"` raises `Module  is not found`. In a YAML list, a name with spaces "
        "around it is not stripped.",
    fix="Remove the stray comma (and the spaces around a YAML list item).",
    bad=_y("dataset: \"a,\"\n"), good=_y("dataset: a\n"), target="train.yaml",
)
OPTIMIZER_VALUE = rule(
    "TY433", "optimizer-value-invalid", ERROR, "A learning rate, weight decay, beta or epsilon the optimizer refuses",
    why="torch's optimizers check their settings when the Trainer creates them, after the model has loaded: a "
        "negative `learning_rate` raises `Invalid learning rate`, a negative `weight_decay` `Invalid weight_decay "
        "value`, and for AdamW an `adam_beta1`/`adam_beta2` outside [0, 1) `Invalid beta parameter`, a negative "
        "`adam_epsilon` `Invalid epsilon value`.",
    fix="Use a positive learning rate (1.0e-4 for LoRA), weight_decay >= 0, betas in [0, 1) and epsilon >= 0.",
    bad=_y("dataset: a\nlearning_rate: -1\n"), good=_y("dataset: a\nlearning_rate: 1.0e-4\n"), target="train.yaml",
)
WORKERS_VALUE = rule(
    "TY434", "workers-not-positive", ERROR, "A worker count datasets or torch refuses",
    why="LLaMA-Factory passes `preprocessing_num_workers` to datasets as num_proc, which must be at least 1 "
        "(`num_proc must be an integer > 0`; 0 divides by zero in load_dataset); torch's DataLoader refuses a "
        "negative `dataloader_num_workers` (`num_workers option should be non-negative`).",
    fix="Use preprocessing_num_workers >= 1 (or delete it: one process), dataloader_num_workers >= 0.",
    bad=_y("dataset: a\npreprocessing_num_workers: 0\n"), good=_y("dataset: a\npreprocessing_num_workers: 4\n"),
    target="train.yaml",
)
VAL_SIZE_ONE = rule(
    "TY435", "val-size-whole-dataset", ERROR, "`val_size: 1.0` (the whole dataset as evaluation data)",
    why="LLaMA-Factory passes a val_size of at most 1 as a fraction to datasets' train_test_split "
        "(data_utils.split_dataset), which refuses 1.0: `test_size=1.0 should be either positive and smaller than "
        "the number of samples or a float in the (0, 1) range`. (An integer `1` is one sample and works.)",
    fix="Use a fraction below 1 such as 0.1, or a whole number of samples.",
    bad=_y("dataset: a\nval_size: 1.0\n"), good=_y("dataset: a\nval_size: 0.1\n"), target="train.yaml",
)
EVAL_ACCUMULATION_ZERO = rule(
    "TY436", "eval-accumulation-zero", ERROR, "`eval_accumulation_steps: 0` in a run that evaluates",
    why="transformers' evaluation loop computes `(step + 1) % eval_accumulation_steps` for every batch: 0 raises "
        "ZeroDivisionError at the first evaluation, after training has run up to it.",
    fix="Delete `eval_accumulation_steps` (no accumulation) or use 1 or more.",
    bad=_y("dataset: a\nval_size: 0.1\neval_strategy: steps\neval_steps: 10\neval_accumulation_steps: 0\n"),
    good=_y("dataset: a\nval_size: 0.1\neval_strategy: steps\neval_steps: 10\neval_accumulation_steps: 4\n"),
    target="train.yaml",
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
        with guarded.open_regular(netrc, "r", encoding="utf-8", errors="replace") as f:
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


# -- values that cannot work (TY43x), found from the argument dataclasses and the libraries' own checks -----------
_SEED_MAX = 2 ** 32 - 1


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_seed(config: TrainingConfig) -> Iterator:
    seed = config.values.get("seed")
    if _integer(seed) and not 0 <= seed <= _SEED_MAX:
        yield SEED_RANGE.diag(f"`seed: {seed}` is outside 0..{_SEED_MAX}: LLaMA-Factory's transformers.set_seed "
                              "raises `Seed must be between 0 and 2**32 - 1` while it parses the config. Use a seed "
                              "such as 42", **config.where("seed"))


# key -> what LLaMA-Factory (or the library it hands the list to) does with an empty item
_BLANK_EFFECT = {
    "dataset": "parser.py raises `Undefined dataset {item} in dataset_info.json.`",
    "eval_dataset": "parser.py raises `Undefined dataset {item} in dataset_info.json.`",
    "interleave_probs": "data_args.py's float() raises `could not convert string to float: {item}`",
    "freeze_trainable_modules": "LLaMA-Factory raises `Module {item} is not found`",
    "freeze_extra_modules": "LLaMA-Factory raises `Module {item} is not found`",
}


def _items(value: Any) -> List[Any]:
    """The items LLaMA-Factory's split_arg makes: a string cut on commas and stripped, a list taken as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    return list(value) if isinstance(value, list) else []


def _check_list_shapes(config: TrainingConfig) -> Iterator:
    for key in (*_BLANK_EFFECT, "lora_target", "oft_target"):
        value = config.values.get(key)
        items = _items(value)
        if not items:
            continue
        bad = next((i for i in items if isinstance(i, str) and (not i or i != i.strip())), None)
        if key in ("lora_target", "oft_target"):  # a blank module matches nothing and is harmless, but not beside `all`
            if "all" in items and len(items) > 1 and all(i == "all" or not str(i).strip() for i in items):
                yield BLANK_LIST_ITEM.diag(
                    f"`{key}: {value}` is read as {items!r}, no longer `all` (that only works alone): PEFT raises "
                    f"`Target modules {set(items)} not found in the base model`. Write `{key}: all`",
                    **config.where(key))
            continue
        if bad is None:
            continue
        shown = f"`{bad}`" if bad else "an empty name"
        effect = _BLANK_EFFECT[key].format(item=repr(bad) if key == "interleave_probs" else bad)
        how = "a comma-separated string keeps the empty piece after a stray comma" if isinstance(value, str) \
            else "a YAML list item is taken as it is, spaces included"
        yield BLANK_LIST_ITEM.diag(f"`{key}` holds {shown} ({how}): {effect}. Remove the stray comma or spaces",
                                   **config.where(key))


def _check_optimizer(config: TrainingConfig) -> Iterator:
    v = config.values
    optim = str(config.get("optim") or "adamw_torch")
    adam = "adam" in optim.lower()
    problems = []
    lr = v.get("learning_rate")
    if _number(lr) and math.isfinite(lr) and lr < 0:
        problems.append(("learning_rate", f"`learning_rate: {lr}` is negative: torch's optimizer raises `Invalid "
                                          f"learning rate: {lr}`"))
    wd = v.get("weight_decay")
    if _number(wd) and math.isfinite(wd) and wd < 0:
        problems.append(("weight_decay", f"`weight_decay: {wd}` is negative: torch's optimizer raises `Invalid "
                                         f"weight_decay value: {wd}`"))
    for index, key in enumerate(("adam_beta1", "adam_beta2")):
        beta = v.get(key)
        if adam and _number(beta) and math.isfinite(beta) and not 0 <= beta < 1:
            problems.append((key, f"`{key}: {beta}` is outside [0, 1): AdamW raises `Invalid beta parameter at index "
                                  f"{index}: {beta}`"))
    eps = v.get("adam_epsilon")
    if adam and _number(eps) and math.isfinite(eps) and eps < 0:
        problems.append(("adam_epsilon", f"`adam_epsilon: {eps}` is negative: AdamW raises `Invalid epsilon value: "
                                         f"{eps}`"))
    for key, text in problems:
        yield OPTIMIZER_VALUE.diag(f"{text} when the Trainer creates it, after the model has loaded",
                                   **config.where(key))


def _check_workers(config: TrainingConfig) -> Iterator:
    v = config.values
    workers = v.get("preprocessing_num_workers")
    if _integer(workers) and workers <= 0:
        yield WORKERS_VALUE.diag(f"`preprocessing_num_workers: {workers}`: datasets needs num_proc >= 1 (`num_proc "
                                 "must be an integer > 0`; 0 divides by zero in load_dataset). Use 1 or more, or "
                                 "delete it", **config.where("preprocessing_num_workers"))
    loader = v.get("dataloader_num_workers")
    if _integer(loader) and loader < 0:
        yield WORKERS_VALUE.diag(f"`dataloader_num_workers: {loader}`: torch's DataLoader raises `num_workers option "
                                 "should be non-negative`. Use 0 (the main process) or more",
                                 **config.where("dataloader_num_workers"))


def _evaluates(config: TrainingConfig) -> bool:
    strategy = str(config.get("eval_strategy") or "no")
    return strategy != "no" or bool(config.values.get("do_eval")) or bool(config.values.get("do_predict"))


def _check_eval_values(config: TrainingConfig) -> Iterator:
    v = config.values
    val_size = v.get("val_size")
    if isinstance(val_size, float) and val_size == 1.0:
        yield VAL_SIZE_ONE.diag("`val_size: 1.0` is the fraction 1: datasets' train_test_split refuses it (`test_size"
                                "=1.0 should be ... a float in the (0, 1) range`). Use a fraction below 1 such as 0.1",
                                **config.where("val_size"))
    steps = v.get("eval_accumulation_steps")
    if _integer(steps) and steps == 0 and _evaluates(config):
        yield EVAL_ACCUMULATION_ZERO.diag("`eval_accumulation_steps: 0`: transformers' evaluation loop divides by it "
                                          "(ZeroDivisionError at the first evaluation). Delete it or use 1 or more",
                                          **config.where("eval_accumulation_steps"))


def _resolved(config: TrainingConfig, path: str) -> str:
    return os.path.realpath(config.resolve(os.path.expanduser(path)))


def _check_output_dir(config: TrainingConfig, settings) -> Iterator:
    out = config.values.get("output_dir")
    if not isinstance(out, str) or not out.strip() or not config.values.get("do_train"):
        return
    target = _resolved(config, out)
    where = config.where("output_dir")
    from lfgate.config_file import project_root

    roots = {os.path.realpath(config.base_dir), os.path.realpath(project_root(settings)) if settings else None}
    if target == os.path.realpath(os.sep):
        what, severity = "the file system's root", ERROR
    elif target in roots:
        what, severity = "the project's root (the folder it is launched from)", ERROR
    else:
        model = config.values.get("model_name_or_path")
        dataset_dir = getattr(settings, "dataset_dir", None) or config.values.get("dataset_dir") or "data"
        if isinstance(model, str) and model and os.path.isdir(config.resolve(os.path.expanduser(model))) \
                and target == _resolved(config, model):
            what, severity = "the base model's own folder (its config.json, weights and tokenizer)", ERROR
        elif isinstance(dataset_dir, str) and dataset_dir != "ONLINE" and target == _resolved(config, dataset_dir):
            what, severity = "dataset_dir, the data folder", WARNING
        else:
            return
    yield OUTPUT_DIR_OVER_PROJECT.diag(
        f"`output_dir: {out}` is {what}: LLaMA-Factory writes README.md, config.json, the weights, the tokenizer "
        "files, trainer_state.json, trainer_log.jsonl and checkpoint folders there, over what is already there. "
        "Give the run a folder of its own (e.g. saves/<model>/<method>/<stage>)", severity=severity, **where)


def check(config: TrainingConfig, settings) -> List:
    """Every TY4xx rule over a training config."""
    found = list(_check_non_finite(config))
    found.extend(_check_placeholders(config))
    found.extend(_check_seed(config))  # eval's get_eval_args seeds too
    found.extend(_check_list_shapes(config))
    if config.entry != "train":
        return found
    for checker in (_check_ignored_intervals, _check_schedule, _check_silent, _check_sizes, _check_wandb,
                    _check_optimizer, _check_workers, _check_eval_values):
        found.extend(checker(config))
    found.extend(_check_output_dir(config, settings))
    return found
