"""`formatting: openai` rules: LLaMA-Factory's separate converter and its own role handling (spec §2.4)."""

from __future__ import annotations

from typing import List

from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator.samples.base import (
    CONVERTED,
    OPENAI_TAGS,
    Counted,
    Finding,
    check,
    converter_raises,
    dataset_check,
    example,
    plural,
)

_TAGS = {**OPENAI_TAGS, "observation_tag": "tool", "function_tag": "function"}
_ENTRY = {"formatting": "openai", "columns": {"messages": "messages", "tools": "tools"}, "tags": _TAGS}
_CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello!"}]
_TOOL_CALL = {"role": "assistant", "content": "",
              "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": {"a": 1, "b": 2}}}]}

ROLE_CRASH = rule(
    "DS301", "openai-role-unknown", ERROR,
    "`formatting: openai`: a role matches none of the tags, which crashes conversion",
    why="Unlike sharegpt, the openai converter maps every role through the tags before checking the order, "
        "so an undeclared role (\"developer\", or \"tool\" without `observation_tag`) raises a KeyError and "
        "stops the run.",
    fix="Declare every role the data uses in `tags` (e.g. `\"observation_tag\": \"tool\"`), or rewrite it.",
    bad=example([{"messages": [{"role": "developer", "content": "Be brief."}] + _CHAT[1:]}], _ENTRY),
    good=example([{"messages": _CHAT}], _ENTRY),
)

TRAILING_TOOLS = rule(
    "DS302", "openai-trailing-tool-dropped", WARNING,
    "`formatting: openai`: tool messages at the end of a conversation are dropped",
    why="The openai converter buffers tool messages until the next non-tool message and never flushes the "
        "buffer at the end, so trailing tool results silently disappear.",
    fix="End the conversation with the assistant message that uses the tool results.",
    bad=example([{"messages": _CHAT + [{"role": "user", "content": "2+1?"}, _TOOL_CALL,
                                        {"role": "tool", "content": "3"}]}], _ENTRY),
    good=example([{"messages": _CHAT + [{"role": "user", "content": "2+1?"}, _TOOL_CALL,
                                         {"role": "tool", "content": "3"},
                                         {"role": "assistant", "content": "3"}]}], _ENTRY),
)

SYSTEM_REWRITTEN = rule(
    "DS303", "openai-system-rewritten", INFO,
    "`formatting: openai` appends \"detailed thinking off\" to the system prompt",
    why="Without tools, the openai converter sets an empty system prompt to \"detailed thinking off\" and appends "
        "it to any other system prompt (unless it already says \"detailed thinking on/off\"); with tools it "
        "appends a newline. The model is trained on that text.",
    fix="Say \"detailed thinking on\" or \"detailed thinking off\" in the system prompt yourself, or use "
        "`formatting: sharegpt` with the OpenAI-style `tags`.",
    bad=example([{"messages": _CHAT}], _ENTRY),
    good=example([{"messages": [{"role": "system", "content": "Be brief. detailed thinking off"}] + _CHAT[1:]}],
                 _ENTRY),
)

DOUBLE_ENCODED = rule(
    "DS304", "openai-arguments-double-encoded", WARNING,
    "`formatting: openai`: tool-call arguments given as a JSON string are encoded twice",
    why="The converter copies `tool_calls[].function` as is, and the function formatter json.dumps the "
        "arguments again: a string (OpenAI's own format) ends up as an escaped JSON string in the training text.",
    fix="Store `arguments` as a JSON object, not a string.",
    bad=example([{"messages": _CHAT[1:2] + [{**_TOOL_CALL, "tool_calls": [
        {"type": "function", "function": {"name": "add", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "content": "1"}, {"role": "assistant", "content": "1"}]}], _ENTRY),
    good=example([{"messages": _CHAT[1:2] + [_TOOL_CALL, {"role": "tool", "content": "3"},
                                             {"role": "assistant", "content": "3"}]}], _ENTRY),
)


# -- the checks ------------------------------------------------------------------------------------------------------
converter_raises("role-unknown", ROLE_CRASH,
                 "Declare the role in `tags` (e.g. \"observation_tag\": \"tool\") or rewrite it.")
_OPENAI = lambda c: c.entry.formatting == "openai"  # noqa: E731


@check(CONVERTED, TRAILING_TOOLS, when=_OPENAI)
def trailing_tools(c, s) -> None:
    for problem in s.aligned.problems:
        if problem.kind == "trailing-tools":
            s.out.append(Finding(TRAILING_TOOLS, f"the last {problem.detail} tool message(s) have no message after "
                                 "them: the openai converter drops them silently. End the conversation with the "
                                 "assistant message that uses them.", s.index, problem.path))


@dataset_check(CONVERTED, SYSTEM_REWRITTEN, when=_OPENAI)
class Rewritten(Counted):
    def add(self, c, s) -> None:
        for problem in s.aligned.problems:
            if problem.kind == "system-rewritten":
                self.tally.add(problem.kind, s.index, problem.path, problem.detail)

    def findings(self, c) -> List[Finding]:
        if not self.tally:
            return []
        sample, path, detail = self.tally.earliest()
        return [Finding(SYSTEM_REWRITTEN, f"the openai converter rewrites the system prompt of "
                        f"{plural(self.tally.total(), 'sample')} (e.g. to {detail!r}, sample {sample}). Say "
                        "\"detailed thinking on/off\" yourself, or use formatting sharegpt with OpenAI-style tags.",
                        sample, path)]


@dataset_check(CONVERTED, DOUBLE_ENCODED, when=_OPENAI)
class DoubleEncoded(Counted):
    def add(self, c, s) -> None:
        for problem in s.aligned.problems:
            if problem.kind == "double-encoded":
                self.tally.add(problem.kind, s.index, problem.path)

    def findings(self, c) -> List[Finding]:
        if not self.tally:
            return []
        sample, path, _ = self.tally.earliest()
        return [Finding(DOUBLE_ENCODED, f"{plural(self.tally.total(), 'tool call')} give `arguments` as a JSON "
                        f"string (first: sample {sample}): it is encoded a second time in the training text. Store "
                        "arguments as JSON objects.", sample, path)]
