"""SampleChecker: every sample rule over one dataset, for one stage, streaming and mergeable across workers.

The dataset layer (validator/datasets.py) feeds records with ``check(index, record)``, possibly in several
processes over chunks of the file, merges the checkers with ``merge`` and calls ``finish`` once for the
dataset-level findings. Each Finding carries the sample index and the JSON path inside the record; the dataset
layer turns that into a line and column.

What the checker itself holds is only what the rules share: the converter replay (``converter.align``), what the
stage's processor keeps (``kept_by_stage``, ``stage_messages``), why a dropped sample is dropped (the DropReason
chain), the counts of samples, and one flat loop per hook over the checks the family modules register for it
(samples/base.py: RECORD, CRASHED, CONVERTED, KEPT, MESSAGE, END). A dataset-level rule keeps its own State, one per
dataset, merged across workers. Memory stays bounded: counters and the first sample of each kind, never lists.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from lfgate.registry import SUMMARY, selected
from lfgate.tokens.sample import count_plan
from lfgate.validator.converter import ConversionError, align, kept_by_stage, stage_messages, tag_mapping
from lfgate.validator.model import DatasetUsage, SampleFacts
from lfgate.validator.samples import alpaca, base, common, kto, multimodal, ranking, sharegpt
from lfgate.validator.samples.base import (
    CONVERTED,
    CRASHED,
    END,
    HOOKS,
    KEPT,
    MESSAGE,
    RECORD,
    Finding,
    Sample,
    State,
)
from lfgate.validator.samples.common import Truncated
from lfgate.validator.samples.kto import PreferenceTypes
from lfgate.validator.samples.multimodal import MediaCounts

# Why the stage drops a sample, asked in this order; the first that knows says it (then the rule's finding),
# else DS007 says the shape the stage needs.
DROP_REASONS = (sharegpt.converter_reason, alpaca.missing_output, ranking.shape_reason, kto.tag_reason)


def effective_stage(entry, usage) -> str:
    """The stage whose processor judges the samples: the config's, else the one the data is made for. A stage
    that LLaMA-Factory's ranking gate rejects outright (reported by the link rules) falls back the same way."""
    natural = {"ranking": "rm", "kto": "kto"}.get(entry.kind, "sft")
    if natural == "sft" and entry.formatting == "alpaca" and not entry.columns.get("response") \
            and not entry.columns.get("query") and not entry.columns.get("history"):
        natural = "pt"  # one text column (e.g. `"columns": {"prompt": "text"}`): pretraining data
    # Anything else with no config to give the stage is judged as LLaMA-Factory's default, sft (the engine says so).
    stage = usage.stage if usage is not None else None
    if stage is None:
        return natural
    if (stage == "rm" and entry.ranking is False) or (stage != "rm" and entry.ranking is True):
        return natural
    return stage


class SampleChecker:
    def __init__(self, entry, usage: Optional[DatasetUsage] = None, settings=None):
        from lfgate.settings import Settings

        self.entry = entry
        self.usage = usage or DatasetUsage()
        settings = settings or Settings()
        self.stage = effective_stage(entry, self.usage)
        self.media_dir = self.usage.media_dir or entry.dataset_dir
        self.cutoff_len = self.usage.cutoff_len if self.stage != "pt" else None
        self.count_plan = count_plan(self.usage, self.cutoff_len) if self.cutoff_len else None  # lfgate/tokens
        self.placeholders = tuple((col, kind, settings.placeholders.get(kind, f"<{kind}>"))
                                  for col, kind in multimodal.MEDIA_KINDS)
        self.chat = entry.formatting in ("sharegpt", "openai")
        self.mapping = tag_mapping(entry.tags)
        self.selection = (tuple(settings.select), tuple(settings.ignore))  # a covering finding ignored covers nothing
        self.total = self.kept = self.crashed = 0
        self.max_index = -1
        self.states: Dict[type, State] = {}
        self._bind()

    def _bind(self) -> None:
        """The checks that apply to this dataset, per hook; each state made once (kept when re-bound)."""
        runs: Dict[str, List[Any]] = {hook: [] for hook in HOOKS + (END,)}
        for registered in base.CHECKS:
            if not registered.when(self):
                continue
            if registered.is_state:
                state = self.states.get(registered.run)
                if state is None:
                    state = self.states[registered.run] = registered.run(self)
                runs[registered.hook].append(state.add)
            else:
                runs[registered.hook].append(registered.run)
        self._runs = runs
        self._reasons = tuple(DROP_REASONS)

    def state(self, kind: type) -> Optional[Any]:
        """This dataset's State of a registered kind, or None when the rule does not apply to it."""
        return self.states.get(kind)

    def __getstate__(self) -> dict:  # across worker processes: the states, not the bound checks
        state = dict(self.__dict__)
        del state["_runs"], state["_reasons"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    # -- per record --------------------------------------------------------------------------------------------
    def check(self, index: int, value) -> List[Finding]:
        out: List[Finding] = []
        self.total += 1
        if index > self.max_index:
            self.max_index = index
        s = Sample(index, value, out)
        runs = self._runs
        for run in runs[RECORD]:
            run(self, s)
        try:
            aligned = align(value, self.entry, self.media_dir)
        except ConversionError as err:
            self.crashed += 1
            s.error = err
            for run in runs[CRASHED]:
                run(self, s)
            return out
        s.aligned = aligned
        s.kept = kept = kept_by_stage(aligned, self.stage)
        for run in runs[CONVERTED]:
            run(self, s)
        if not kept:
            dropped = common.dropped(self, s, self._drop_reason(s))
            if dropped is not None:
                out.append(dropped)
            return out
        self.kept += 1
        s.lists = lists = stage_messages(aligned, self.stage)
        # every message the template formats, once (rm's two lists share the prompt)
        messages, paths = lists[0]
        if len(lists) > 1:
            messages, paths = messages + lists[1][0][-1:], paths + lists[1][1][-1:]
        on_message = runs[MESSAGE]
        for message, path in zip(messages, paths):
            for run in on_message:
                run(self, s, message, path)
        for run in runs[KEPT]:
            run(self, s)
        return out

    def _drop_reason(self, s):
        for reason_of in self._reasons:
            reason = reason_of(self, s)
            if reason is not None:
                return reason
        return None

    # -- merging and the dataset level ---------------------------------------------------------------------------
    def merge(self, other: SampleChecker) -> SampleChecker:
        """Add ``other``'s counts and states (a worker's checker over another chunk of the same dataset)."""
        self.total += other.total
        self.kept += other.kept
        self.crashed += other.crashed
        self.max_index = max(self.max_index, other.max_index)
        for kind, state in self.states.items():
            state.merge(other.states[kind])
        return self

    def finish(self) -> List[Finding]:
        """The dataset-level findings, once every record is in; those a stop covers are left out (``covers``)."""
        from lfgate.findings import fold

        if self.total == 0:
            return []
        out: List[Finding] = []
        for state in self.states.values():
            out.extend(state.findings(self))
        for registered in base.CHECKS:  # what only the whole dataset shows (every sample dropped): after the states
            if registered.hook == END and registered.when(self):
                out.extend(registered.run(self))
        out.sort(key=lambda f: not f.rule.covers)  # root causes first: a finding that stands for others
        return fold(out, SUMMARY, chosen=lambda code: selected(code, *self.selection))

    def facts(self) -> SampleFacts:
        media, trunc, kto_types = self.state(MediaCounts), self.state(Truncated), self.state(PreferenceTypes)
        facts = SampleFacts(samples=self.total, stage=self.stage, formatting=self.entry.formatting, kept=self.kept,
                            dropped=self.total - self.kept - self.crashed, crashed=self.crashed)
        if media is not None:
            facts.media, facts.placeholders = dict(media.media), dict(media.placeholders)
            facts.samples_with_media = media.samples_with_media
            facts.has_placeholders = any(media.placeholders.values()) or bool(media.no_media)
        facts.has_media = facts.samples_with_media > 0
        if kto_types is not None:
            facts.kto_desirable, facts.kto_undesirable = kto_types.desirable, kto_types.undesirable
        if trunc is not None:
            facts.truncation = trunc.facts(self)
        return facts
