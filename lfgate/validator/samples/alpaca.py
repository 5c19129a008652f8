"""alpaca rules: the mapped prompt/query/response/history fields (spec §2.2)."""

from __future__ import annotations

from typing import List, Optional

from lfgate.lf_facts import close_matches
from lfgate.registry import ERROR, SUMMARY, WARNING, rule
from lfgate.validator.samples.base import (
    CONVERTED,
    FIELD_TYPO_CUTOFF,
    Counted,
    DropReason,
    Finding,
    check,
    converter_raises,
    dataset_check,
    example,
    plural,
)

_HISTORY = {"columns": {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}}

HISTORY_PAIRS = rule(
    "DS101", "history-not-pairs", ERROR,
    "An alpaca history item is not a [prompt, response] pair of strings",
    why="LLaMA-Factory unpacks each history item into exactly two values: a 3-item list raises \"too many "
        "values to unpack\" during conversion, and a non-string item raises \"Expected a string\" at "
        "tokenization.",
    fix="Write history as a list of [instruction, response] string pairs.",
    bad=example([{"instruction": "And 3+3?", "input": "", "output": "6",
                  "history": [["1+1?", "2", "extra"]]}], _HISTORY),
    good=example([{"instruction": "And 3+3?", "input": "", "output": "6", "history": [["1+1?", "2"]]}], _HISTORY),
)

HISTORY_IGNORED = rule(
    "DS102", "history-ignored", WARNING,
    "An alpaca history value is not a list and is ignored",
    why="LLaMA-Factory uses the history only when it is a list; a string or object is silently dropped, so "
        "the earlier turns never reach training.",
    fix="Write history as a list of [instruction, response] pairs.",
    bad=example([{"instruction": "And 3+3?", "input": "", "output": "6", "history": "1+1? 2"}], _HISTORY),
    good=example([{"instruction": "And 3+3?", "input": "", "output": "6", "history": [["1+1?", "2"]]}], _HISTORY),
)

QUERY_TYPE = rule(
    "DS103", "prompt-not-string", ERROR,
    "An alpaca instruction or input is not a string",
    why="LLaMA-Factory joins instruction and input with a newline; a number, list or object raises a "
        "TypeError during conversion.",
    fix="Make instruction and input strings (or null/empty when unused).",
    bad=example([{"instruction": ["Say", "hi"], "input": "", "output": "Hi"}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
)

OUTPUT_MISSING = rule(
    "DS104", "response-not-string", ERROR,
    "An alpaca output is null or not a string, so the sample is dropped",
    why="A null, number or list output makes an \"unsupervised\" sample with no response: sft, rm (DPO) and "
        "kto drop it; only ppo and prediction keep it.",
    fix="Give every sample a string output (or use the data for ppo).",
    bad=example([{"instruction": "Say hi", "input": "", "output": None}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
    covers=("DS003",), scope=SUMMARY,  # no `columns.response`: the stage keeping nothing is this finding
)


# -- the checks ------------------------------------------------------------------------------------------------------
converter_raises("history-pair", HISTORY_PAIRS, "Write history as a list of [instruction, response] pairs.")
converter_raises("query-type", QUERY_TYPE, "Make instruction and input strings.")


@check(CONVERTED, HISTORY_IGNORED, when=lambda c: c.entry.formatting == "alpaca")
def history_ignored(c, s) -> None:
    for problem in s.aligned.problems:
        if problem.kind == "history-ignored":
            s.out.append(Finding(HISTORY_IGNORED, f"history is a {problem.detail}, not a list: LLaMA-Factory ignores "
                                 "it silently. Write it as a list of [instruction, response] pairs.", s.index,
                                 problem.path))


def _needs_response(c) -> bool:
    return c.entry.formatting == "alpaca" and not c.entry.ranking and c.stage in ("sft", "rm", "kto")


@dataset_check(CONVERTED, OUTPUT_MISSING, when=lambda c: _needs_response(c) and not c.entry.columns.get("response"))
class NoResponseColumn(Counted):
    """No `columns.response`: every sample alike has no response, said once for the dataset."""

    def add(self, c, s) -> None:
        if not s.aligned.response:
            self.tally.add("response", s.index, ())

    def findings(self, c) -> List[Finding]:
        if not self.tally:
            return []
        return [Finding(OUTPUT_MISSING, f"`columns.response` is not set, so none of the "
                        f"{plural(self.tally.total(), 'sample')} has a response: the {c.stage} stage drops them all. "
                        "Map `columns.response` to the output field, or train this text with `stage: pt`.", None, ())]


def missing_output(c, s) -> Optional[DropReason]:
    """A dropped alpaca sample without a string output: the field misspelt, null or of another type."""
    if not _needs_response(c) or s.aligned.response:
        return None
    col = c.entry.columns.get("response")
    if not col:
        return DropReason((), "`columns.response` is not set")  # every sample alike: NoResponseColumn says it
    value = s.value
    typo = _misspelt_field(col, value) if col not in value else None
    if typo:
        return DropReason((typo,), f"the record has no `{col}` but has `{typo}`: did you mean `{col}`? "
                          f"LLaMA-Factory reads `{col}` (`columns.response`), so the sample has no response",
                          OUTPUT_MISSING, f"Rename `{typo}` to `{col}`.")
    out_value = value.get(col)
    shown = "null" if out_value is None else f"a {type(out_value).__name__}"
    return DropReason((col,), f"`{col}` is {shown}, not a string, so the sample has no response", OUTPUT_MISSING,
                      "Give it a string output (or train the data with ppo).")


def _misspelt_field(column: str, record: dict):
    """A field of the record that is a likely typo of the column LLaMA-Factory reads (`ouput` for `output`)."""
    names = [k for k in record if isinstance(k, str) and k != column]
    close = close_matches(column, names, 1, FIELD_TYPO_CUTOFF)
    return close[0] if close else None
