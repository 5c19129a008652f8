"""TY440-TY443: preference training that trains something else than the config says, by the installed TRL.

LLaMA-Factory 0.9.5's CustomDPOTrainer stores `pref_loss` as `self.loss_type` (train/dpo/trainer.py:80) and calls
`self.dpo_loss(chosen, rejected, ref_chosen, ref_rejected)` without `loss_type` (train/dpo/trainer.py:206). TRL
0.18 and 0.19 read `self.loss_type` inside `dpo_loss` (and raise `Unknown loss type` for one they lack, kto_pair
among them); from TRL 0.20 on `dpo_loss` takes `loss_type: str = "sigmoid"` as a parameter (trl/trainer/
dpo_trainer.py, v0.20.0 to v0.24.0, read at each tag), so every `pref_loss` that goes through it trains plain
sigmoid DPO. LLaMA-Factory 0.9.5 allows trl>=0.18.0,<=0.24.0 (extras/misc.py:101); a fresh install gets 0.24.0.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from lfgate import lf_stack
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.training.config import TrainingConfig, _y

# TRL's dpo_loss takes loss_type as a parameter defaulting to "sigmoid" from this release on.
SIGMOID_DEFAULT_SINCE = (0, 20, 0)
# pref_loss values LLaMA-Factory computes itself (use_ref_model is False: hparams/finetuning_args.py:574).
OWN_LOSSES = ("orpo", "simpo")
# pref_loss values TRL 0.18/0.19's dpo_loss knows; any other raises there.
TRL_LOSSES = ("sigmoid", "hinge", "ipo")
# LLaMA-Factory divides the log-probs by the response length for these (train/dpo/trainer.py:234).
LENGTH_AVERAGED = ("ipo", "orpo", "simpo")
PPO_TRL = ((0, 8, 6), (0, 9, 6))  # train/ppo/trainer.py:90: require_version("trl>=0.8.6,<=0.9.6")

_DPO = "dataset: a\nstage: dpo\n"

TRAINS_SIGMOID = rule(
    "TY440", "pref-loss-trains-sigmoid", WARNING, "A `pref_loss` that trains plain sigmoid DPO",
    why="LLaMA-Factory 0.9.5 calls TRL's `dpo_loss` without `loss_type` (train/dpo/trainer.py:206). From TRL 0.20 "
        "on, `dpo_loss` defaults `loss_type` to `\"sigmoid\"`, so `hinge`, `ipo` and `kto_pair` all train sigmoid "
        "DPO; for `ipo` LLaMA-Factory still length-averages the log-probs (train/dpo/trainer.py:234), so that run "
        "is neither DPO nor IPO. The installed TRL decides (a fresh install of LLaMA-Factory 0.9.5 gets 0.24.0); "
        "TRL 0.18 and 0.19 train hinge and ipo as asked.",
    fix="Write `pref_loss: sigmoid` (what trains), or install trl 0.18/0.19 (`pip install 'trl>=0.18,<0.20'`) to "
        "train hinge or ipo.",
    bad=_y(_DPO + "pref_loss: hinge\n"), good=_y(_DPO + "pref_loss: sigmoid\n"), target="train.yaml",
)
UNKNOWN_TO_TRL = rule(
    "TY441", "pref-loss-unknown-to-trl", ERROR, "A `pref_loss` the installed TRL's `dpo_loss` raises on",
    why="With TRL 0.18 or 0.19, `dpo_loss` reads LLaMA-Factory's `pref_loss` and raises `ValueError: Unknown loss "
        "type: kto_pair` at the first training step, after the model and the reference model loaded: TRL removed "
        "kto_pair. (With TRL 0.20 and newer it trains sigmoid instead: TY440.)",
    fix="Use `pref_loss: sigmoid`, `hinge` or `ipo`, or `stage: kto` with KTO data for a KTO loss.",
    bad=_y(_DPO + "pref_loss: kto_pair\n"), good=_y(_DPO + "pref_loss: sigmoid\n"), target="train.yaml",
    env={"LFGATE_STACK": "trl=0.19.1"},
)
PPO_TRL_RANGE = rule(
    "TY442", "ppo-needs-old-trl", ERROR, "`stage: ppo` with a TRL that LLaMA-Factory's PPO trainer refuses",
    why="LLaMA-Factory 0.9.5's CustomPPOTrainer calls `require_version(\"trl>=0.8.6,<=0.9.6\")` (train/ppo/"
        "trainer.py:90) after the policy, reference and reward models loaded, while its start-up check allows only "
        "trl>=0.18.0,<=0.24.0 (extras/misc.py:101): PPO raises `ImportError: Incompatible TRL version` with every "
        "TRL LLaMA-Factory accepts, and runs only with DISABLE_VERSION_CHECK=1 and trl 0.9.6.",
    fix="`pip install trl==0.9.6` and launch with DISABLE_VERSION_CHECK=1, or train with `stage: dpo` / `kto`.",
    bad=_y("dataset: a\nstage: ppo\nreward_model: saves/rm\n"), good=_y(_DPO),
    target="train.yaml",
)
LOSS_IGNORED = rule(
    "TY443", "pref-loss-ignored-by-stage", WARNING, "`pref_loss` in a stage that never reads it",
    why="Only `stage: dpo` reads `pref_loss`. KTO always trains TRL's `kto` loss (CustomKTOTrainer sets "
        "`loss_type = \"kto\"`, train/kto/trainer.py:87); rm, ppo, sft and pt never read it.",
    fix="Delete `pref_loss`, or train with `stage: dpo`.",
    bad=_y("dataset: a\nstage: kto\npref_loss: ipo\n"), good=_y("dataset: a\nstage: kto\n"), target="train.yaml",
)


def trl_trains_sigmoid(stack: lf_stack.Stack) -> Optional[bool]:
    """Whether the stack's TRL ignores LLaMA-Factory's pref_loss in dpo_loss; None when no trl is known."""
    version = stack.version("trl")
    return lf_stack.release(version) >= SIGMOID_DEFAULT_SINCE if version else None


def unknown_loss(value: str, stack: lf_stack.Stack) -> Tuple[str, bool, bool]:
    """For `stage: dpo` with a pref_loss LLaMA-Factory does not list (TY202): (what the run does, whether it fails,
    whether a did-you-mean may be offered: not when the closest names train sigmoid too)."""
    sigmoid = trl_trains_sigmoid(stack)
    trl = stack.describe("trl")
    if sigmoid is False:
        return (f"TRL's dpo_loss raises `Unknown loss type: {value}` at the first training step: {trl}", True, True)
    if sigmoid:
        return (f"LLaMA-Factory passes it on unchecked and the run trains plain sigmoid DPO (TRL's dpo_loss "
                f"defaults loss_type to sigmoid: {trl}); only orpo and simpo train another loss", False, False)
    return "LLaMA-Factory does not check it and will not do what you meant", False, True


def check(config: TrainingConfig, settings) -> List:
    if config.entry != "train":
        return []
    return list(_check(config, settings))


def _check(config: TrainingConfig, settings) -> Iterator:
    v = config.values
    loss = v.get("pref_loss")
    stage = config.stage
    if isinstance(loss, str) and loss != "sigmoid" and stage != "dpo" and "stage" in v:
        what = ("KTO always trains TRL's `kto` loss (train/kto/trainer.py:87)" if stage == "kto"
                else f"`stage: {stage}` never reads it")
        yield LOSS_IGNORED.diag(f"`pref_loss: {loss}` does nothing here: {what}. Delete it, or use `stage: dpo`",
                                **config.where("pref_loss"))
    if stage == "ppo":
        yield from _check_ppo(config, settings)
    if stage != "dpo" or not isinstance(loss, str) or loss in ("sigmoid",) + OWN_LOSSES:
        return
    if loss not in TRL_LOSSES + ("kto_pair",):
        return  # not one of LLaMA-Factory's choices: TY202 says what it does (unknown_loss)
    stack = lf_stack.stack(settings)
    sigmoid = trl_trains_sigmoid(stack)
    trl = stack.describe("trl")
    if sigmoid:
        extra = (" LLaMA-Factory still length-averages the log-probs for ipo (train/dpo/trainer.py:234), so the run "
                 "is neither DPO nor IPO." if loss in LENGTH_AVERAGED else "")
        also = " (kto_pair is no KTO loss either: TRL removed it; for KTO use `stage: kto`)" if loss == "kto_pair" \
            else ""
        yield TRAINS_SIGMOID.diag(
            f"`pref_loss: {loss}` trains plain sigmoid DPO{also}: LLaMA-Factory calls TRL's dpo_loss without "
            f"loss_type, which TRL 0.20 and newer default to sigmoid: {trl}.{extra} Write `pref_loss: sigmoid`, or "
            "install trl>=0.18,<0.20 to train " + ("hinge or ipo" if loss == "kto_pair" else loss),
            **config.where("pref_loss"))
    elif sigmoid is False and loss not in TRL_LOSSES:
        yield UNKNOWN_TO_TRL.diag(
            f"`pref_loss: {loss}`: TRL's dpo_loss raises `ValueError: Unknown loss type: {loss}` at the first "
            f"training step ({trl}); TRL removed kto_pair. Use sigmoid, hinge or ipo, or `stage: kto` for KTO",
            **config.where("pref_loss"))


def _check_ppo(config: TrainingConfig, settings) -> Iterator:
    stack = lf_stack.stack(settings)
    version = stack.version("trl")
    if not version:
        return
    low, high = PPO_TRL
    if low <= lf_stack.release(version) <= high:
        return
    yield PPO_TRL_RANGE.diag(
        f"`stage: ppo` fails with {stack.describe('trl')}: LLaMA-Factory's PPO trainer requires trl>=0.8.6,<=0.9.6 "
        "and raises `ImportError: Incompatible TRL version` after the models load (train/ppo/trainer.py:90), while "
        "its start-up check allows only trl>=0.18.0,<=0.24.0. Install trl==0.9.6 and launch with "
        "DISABLE_VERSION_CHECK=1, or train with stage dpo or kto", **config.where("stage"))
