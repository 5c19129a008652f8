"""Ranking (preference) rules: chosen/rejected shapes and roles (spec §2.2-§2.3)."""

from __future__ import annotations

from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.samples.base import example, turns

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
