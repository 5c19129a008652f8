"""alpaca rules: the mapped prompt/query/response/history fields (spec §2.2)."""

from __future__ import annotations

from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.samples.base import example

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
)
