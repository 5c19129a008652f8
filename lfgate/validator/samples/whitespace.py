"""Texts that are only white space: LLaMA-Factory keeps them as text and trains them (an empty text is DS011)."""

from __future__ import annotations

from lfgate.registry import WARNING, Refusal, rule
from lfgate.validator.samples.base import KEPT, Finding, check, example

BLANK_RESPONSE = rule(
    "DS080", "whitespace-only-response", WARNING,
    "The trained response is only white space",
    why="A response of spaces or newlines is a string, so the converter keeps it as the assistant's message "
        "(data/converter.py:117-118, 0.9.5) and the supervised processor tokenizes it as the labels "
        "(data/processor/supervised.py:56-75): the model is trained to answer with white space and the "
        "end-of-sequence token. Nothing strips or drops it; `lfgate convert` counts it as empty.",
    fix="Fill in the response, or remove the sample (an empty output is DS011).",
    bad=example([{"instruction": "Summarise the report.", "input": "", "output": " \n "}]),
    good=example([{"instruction": "Summarise the report.", "input": "", "output": "Emissions fell 12%."}]),
    refuses=Refusal(blank=True),  # a text of white space only (str.isspace; False for ""): it goes the full way
)

@check(KEPT, BLANK_RESPONSE, when=lambda c: c.stage in ("sft", "rm"))
def blank_response(c, s) -> None:
    for k, message in enumerate(s.aligned.response[:2]):
        content = message["content"]
        if isinstance(content, str) and content.isspace():
            s.out.append(Finding(BLANK_RESPONSE, f"the response is only white space ({content!r}): LLaMA-Factory "
                                 "trains the model to answer with it. Fill it in or remove the sample.", s.index,
                                 s.source(len(s.aligned.prompt) + k)))
            return
