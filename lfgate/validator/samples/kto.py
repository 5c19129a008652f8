"""KTO rules: the `kto_tag` value, KTO data in other stages, and the feedback processor's batch crash (spec §2.6)."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from lfgate.diagnostics import Severity
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.samples.base import (
    CONVERTED,
    KEPT,
    Counted,
    DropReason,
    Finding,
    State,
    check,
    dataset_check,
    example,
    plural,
    turns,
)

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


# -- the checks ------------------------------------------------------------------------------------------------------
KTO_BATCH = 1000  # LLaMA-Factory's preprocessing_batch_size default
_VALID, _HAZARD, _OTHER = 1, 2, 0  # KTO batch status of a sample


def _tagged(c) -> bool:
    return bool(c.entry.columns.get("kto_tag"))


def _kto(c) -> bool:
    return c.stage == "kto"


@check(CONVERTED, TAG_NOT_BOOL, when=_tagged)
def tag_not_bool(c, s) -> None:
    column = c.entry.columns.get("kto_tag")
    tag = s.value.get(column)
    if isinstance(tag, bool):
        return
    shown = "null" if tag is None else f"{tag!r} (a {type(tag).__name__})"
    dropped = ", and the kto stage drops it" if c.stage == "kto" else ""
    s.out.append(Finding(TAG_NOT_BOOL, f"`{column}` is {shown}, not a JSON boolean: LLaMA-Factory treats the sample "
                         f"as a normal one{dropped}. Write true or false.", s.index, (column,),
                         None if c.stage == "kto" else Severity.WARNING))


def tag_reason(c, s) -> Optional[DropReason]:
    """A sample dropped for its kto_tag: said by its own finding (not a boolean, kto) or once (KTO data in sft)."""
    column = c.entry.columns.get("kto_tag")
    if not column:
        return None
    tag = s.value.get(column)
    if not isinstance(tag, bool):
        return DropReason((column,), f"`{column}` is not a JSON boolean") if c.stage == "kto" else None
    return DropReason((column,), "a boolean kto_tag") if c.stage == "sft" else None  # KtoInOtherStage says it


@dataset_check(CONVERTED, KTO_IN_OTHER_STAGE, when=_tagged)
class KtoInOtherStage(Counted):
    def add(self, c, s) -> None:
        column = c.entry.columns.get("kto_tag")
        tag = s.value.get(column)
        if isinstance(tag, bool):
            self.tally.add(tag, s.index, (column,))

    def findings(self, c) -> List[Finding]:
        if not (self.tally and c.stage == "sft"):
            return []
        sample, path, _ = self.tally.earliest()
        return [Finding(KTO_IN_OTHER_STAGE, f"{plural(self.tally.total(), 'sample')} carry a boolean "
                        f"`{c.entry.columns.get('kto_tag')}` (KTO data): the sft stage drops every one of them. "
                        "Train with `stage: kto`, or remove `columns.kto_tag`.", sample, path)]


@check(KEPT, EMPTY_DESIRABLE, when=lambda c: _kto(c) and _tagged(c))
def empty_desirable(c, s) -> None:
    column = c.entry.columns.get("kto_tag")
    if s.value.get(column) is True and not s.aligned.response[0].get("content"):
        s.out.append(Finding(EMPTY_DESIRABLE, f"`{column}` is true but the response is empty: the KTO processor "
                             "treats the sample as undesirable. Fill in the response.", s.index,
                             s.source(len(s.aligned.prompt))))


@dataset_check(KEPT, ONE_TYPE, when=_kto)
class PreferenceTypes(State):
    """Kept samples by the type the KTO processor derives from the content: desirable or undesirable."""

    def __init__(self, c):
        self.undesirable = self.desirable = 0

    def add(self, c, s) -> None:
        if s.aligned.response[0].get("content"):
            self.desirable += 1
        else:
            self.undesirable += 1

    def merge(self, other) -> None:
        self.desirable += other.desirable
        self.undesirable += other.undesirable

    def findings(self, c) -> List[Finding]:
        if not c.kept or (self.undesirable and self.desirable):
            return []
        which = "desirable" if self.desirable else "undesirable"
        return [Finding(ONE_TYPE, f"all {plural(c.kept, 'kept sample')} are {which}: LLaMA-Factory logs \"Your "
                        "dataset only has one preference type\". Add samples of the other kind.", None, ())]


@dataset_check(CONVERTED, BATCH_CRASH, when=_kto)
class KtoBatches(State):
    """A hazard sample (no usable response) right before a valid one, cyclically inside a batch of KTO_BATCH: the
    valid one reads the hazard's response as its KL pair. Kept bounded: the last sample seen, the batch edges of
    each worker's stretch, the earliest crash."""

    def __init__(self, c):
        self.prev: Optional[Tuple[int, int]] = None  # (index, status) of the last sample seen
        self.edges: Dict[int, int] = {}
        self.crash: Optional[int] = None

    def add(self, c, s) -> None:
        response = s.aligned.response
        if s.kept:
            status = _VALID
        elif not response or (len(response) < 2 and not response[0].get("content")):
            status = _HAZARD
        else:
            status = _OTHER
        index, prev = s.index, self.prev
        if prev is not None and prev[0] == index - 1 and index % KTO_BATCH != 0:
            if prev[1] == _HAZARD and status == _VALID:
                self._crash_at(prev[0])
        else:
            if prev is not None:
                self.edges[prev[0]] = prev[1]
            self.edges[index] = status
        if index % KTO_BATCH in (0, KTO_BATCH - 1):
            self.edges[index] = status
        self.prev = (index, status)

    def _crash_at(self, index: int) -> None:  # index: the broken sample whose response a valid one reads
        if self.crash is None or index < self.crash:
            self.crash = index

    def _flush(self) -> None:
        if self.prev is not None:
            self.edges[self.prev[0]] = self.prev[1]
            self.prev = None

    def merge(self, other) -> None:
        self._flush()
        other._flush()
        self.edges.update(other.edges)
        if other.crash is not None:
            self._crash_at(other.crash)

    def findings(self, c) -> List[Finding]:
        self._flush()
        edges = self.edges
        for index, status in edges.items():
            if status != _VALID:
                continue
            if index % KTO_BATCH == 0:  # its neighbour is the last sample of the batch
                before = min(index + KTO_BATCH, c.max_index + 1) - 1
            else:
                before = index - 1
            if edges.get(before) == _HAZARD:
                self._crash_at(before)
        if self.crash is None:
            return []
        return [Finding(BATCH_CRASH, f"sample {self.crash} has no usable response and a valid sample reads it as its "
                        "KL pair (the next one in its batch of 1000, cyclically): the KTO processor raises IndexError "
                        "and preprocessing stops. Fix or remove the broken samples.", self.crash, ())]
