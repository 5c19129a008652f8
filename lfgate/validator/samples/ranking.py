"""Ranking (preference) rules: chosen/rejected shapes and roles (spec §2.2-§2.3)."""

from __future__ import annotations

from typing import Optional

from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.converter import ASSISTANT, FUNCTION, declared
from lfgate.validator.samples.base import CONVERTED, DropReason, Finding, check, converter_raises, example, turns

_ENTRY = {"formatting": "sharegpt", "ranking": True,
          "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
_PROMPT = turns(("human", "Say hi"))

SHAPE = rule(
    "DS401", "ranking-answer-shape", ERROR,
    "chosen/rejected are not single messages (sharegpt) or strings (alpaca)",
    why="LLaMA-Factory takes the pairwise branch only when both are message objects (sharegpt/openai) or both "
        "strings (alpaca). Otherwise the sample is converted as a normal one and the rm/DPO stage drops it.",
    fix="sharegpt: make chosen and rejected one {\"from\": \"gpt\", \"value\": ...} object each; alpaca: strings.",
    bad=example([{"conversations": _PROMPT, "chosen": "Hi!", "rejected": "Go away."}], _ENTRY, stage="dpo"),
    good=example([{"conversations": _PROMPT, "chosen": {"from": "gpt", "value": "Hi!"},
                   "rejected": {"from": "gpt", "value": "Go away."}}], _ENTRY, stage="dpo"),
)

HUMAN_ROLE = rule(
    "DS402", "ranking-answer-not-assistant", WARNING,
    "A chosen/rejected message has a user or observation role",
    why="LLaMA-Factory logs \"Invalid role tag\" but keeps the sample: the answer is formatted as a user "
        "message and trained that way.",
    fix="Give chosen and rejected the assistant role (`tags.assistant_tag`, default \"gpt\").",
    bad=example([{"conversations": _PROMPT, "chosen": {"from": "human", "value": "Hi!"},
                  "rejected": {"from": "gpt", "value": "Go away."}}], _ENTRY, stage="dpo"),
    good=example([{"conversations": _PROMPT, "chosen": {"from": "gpt", "value": "Hi!"},
                   "rejected": {"from": "gpt", "value": "Go away."}}], _ENTRY, stage="dpo"),
)

UNKNOWN_ROLE = rule(
    "DS403", "ranking-answer-role-unknown", ERROR,
    "A chosen/rejected role matches no tag, which crashes conversion",
    why="After logging \"Invalid role tag\", LLaMA-Factory maps the role through the tags anyway; a role no tag "
        "declares raises a KeyError and stops the run.",
    fix="Give chosen and rejected the assistant role (`tags.assistant_tag`, default \"gpt\").",
    bad=example([{"conversations": _PROMPT, "chosen": {"from": "bot", "value": "Hi!"},
                  "rejected": {"from": "gpt", "value": "Go away."}}], _ENTRY, stage="dpo"),
    good=example([{"conversations": _PROMPT, "chosen": {"from": "gpt", "value": "Hi!"},
                   "rejected": {"from": "gpt", "value": "Go away."}}], _ENTRY, stage="dpo"),
)


# -- the checks ------------------------------------------------------------------------------------------------------
converter_raises("ranking-role-unknown", UNKNOWN_ROLE, "Give chosen and rejected the assistant role.")


@check(CONVERTED, HUMAN_ROLE, when=lambda c: bool(c.entry.ranking))
def answer_not_assistant(c, s) -> None:
    for problem in s.aligned.problems:
        if problem.kind != "ranking-role":
            continue
        role = problem.detail
        mapped = c.mapping.get(role) if declared(role, c.mapping) else None
        if mapped not in (ASSISTANT, FUNCTION):  # the openai converter compares raw values with roles
            s.out.append(Finding(HUMAN_ROLE, f"`{problem.path[0]}` has role {role!r} ({mapped}): LLaMA-Factory keeps "
                                 f"the sample and trains this answer as a {mapped} message. Give it the assistant "
                                 f"role {c.entry.tags.get('assistant_tag')!r}.", s.index, problem.path))


def shape_reason(c, s) -> Optional[DropReason]:
    """A ranking sample the rm stage drops because chosen/rejected do not have the pairwise shape."""
    if not c.entry.ranking or c.stage != "rm":
        return None
    cols = c.entry.columns
    want, kind = (str, "strings") if c.entry.formatting == "alpaca" else (dict, "single message objects")
    for key in ("chosen", "rejected"):
        col = cols.get(key)
        answer = s.value.get(col)
        if not isinstance(answer, want):
            shown = "null" if answer is None else f"a {type(answer).__name__}"
            return DropReason((col,), f"`{col}` is {shown}, but chosen and rejected must both be {kind}, else "
                              "LLaMA-Factory converts the sample as a normal one", SHAPE, f"Make both {kind}.")
    return None
