"""KTO rules: the `kto_tag` value, KTO data in other stages, and the feedback processor's batch crash (spec §2.6)."""

from __future__ import annotations

from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.samples.base import example, turns

_ENTRY = {"formatting": "sharegpt", "columns": {"messages": "conversations", "kto_tag": "label"}}


def _rec(label, answer="Hello!"):
    return {"conversations": turns(("human", "Hi"), ("gpt", answer)), "label": label}


TAG_NOT_BOOL = rule(
    "DS451", "kto-tag-not-boolean", ERROR,
    "A `kto_tag` value is not a JSON boolean",
    why="Only a real true/false counts: \"true\", 1 or null silently make the sample a normal one, which the kto "
        "stage drops (or, with an empty answer, crashes with IndexError).",
    fix="Write the tag as JSON true or false.",
    bad=example([_rec("true"), _rec(False, "Go away.")], _ENTRY, stage="kto"),
    good=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="kto"),
)

BATCH_CRASH = rule(
    "DS452", "kto-batch-index-error", ERROR,
    "A sample without a usable response crashes KTO preprocessing",
    why="The KTO processor pairs each sample with its neighbour's response inside each batch of "
        "`preprocessing_batch_size` (1000) rows and indexes it before any check: a blanked sample, or one with a "
        "single empty response, next to a valid one raises IndexError and stops the run.",
    fix="Fix or remove the broken samples (see the other findings for this dataset).",
    bad=example([_rec(True), {"conversations": turns(("gpt", "x"), ("human", "y")), "label": True}],
                _ENTRY, stage="kto"),
    good=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="kto"),
)

KTO_IN_OTHER_STAGE = rule(
    "DS453", "kto-data-in-other-stage", ERROR,
    "KTO samples (boolean `kto_tag`) are used outside the kto stage",
    why="A boolean tag gives the sample two responses; the sft processor needs exactly one, so every KTO "
        "sample is dropped in sft. Nothing in LLaMA-Factory warns about it.",
    fix="Train this dataset with `stage: kto`, or remove `columns.kto_tag` to use it for sft.",
    bad=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="sft"),
    good=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="kto"),
)

ONE_TYPE = rule(
    "DS454", "kto-one-preference-type", WARNING,
    "All KTO samples are desirable, or all undesirable",
    why="LLaMA-Factory logs \"Your dataset only has one preference type\" and trains on: KTO needs both kinds "
        "to learn a preference.",
    fix="Add samples of the other kind (kto_tag false for undesirable answers).",
    bad=example([_rec(True), _rec(True, "Hey.")], _ENTRY, stage="kto"),
    good=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="kto"),
)

EMPTY_DESIRABLE = rule(
    "DS455", "kto-desirable-empty", WARNING,
    "A desirable KTO sample has an empty response",
    why="The KTO processor re-derives desirability from the content: an empty response is treated as "
        "undesirable, whatever the tag says.",
    fix="Fill in the response, or remove the sample.",
    bad=example([_rec(True, ""), _rec(False, "Go away.")], _ENTRY, stage="kto"),
    good=example([_rec(True), _rec(False, "Go away.")], _ENTRY, stage="kto"),
)
