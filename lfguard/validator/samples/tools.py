"""Tool rules: function-call message contents and the `tools` description (spec §2.7)."""

from __future__ import annotations

import json
import re

from lfguard.registry import ERROR, rule
from lfguard.validator.samples.base import example, turns

_ENTRY = {"formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"}}
_TOOLS = json.dumps([{"name": "add", "description": "Add two numbers",
                      "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}])
_CALL = json.dumps({"name": "add", "arguments": {"a": 1}})


def _conv(call):
    return turns(("human", "1+?"), ("function_call", call), ("observation", "1"), ("gpt", "1"))


FUNCTION_CALL = rule(
    "DS061", "function-call-invalid", ERROR,
    "A function-call message is not JSON with `name` and `arguments`",
    why="The function formatter parses the content as JSON (optionally after a <think> block, or inside "
        "<tool_call> tags): invalid JSON raises \"Invalid JSON format in function message\", and a call without "
        "`name` or `arguments` a bare KeyError, at tokenization.",
    fix="Write the content as {\"name\": ..., \"arguments\": {...}} (or a JSON list of such calls).",
    bad=example([{"conversations": _conv("add(1)"), "tools": _TOOLS}], _ENTRY),
    good=example([{"conversations": _conv(_CALL), "tools": _TOOLS}], _ENTRY),
)

TOOLS_INVALID = rule(
    "DS062", "tools-not-json-string", ERROR,
    "`tools` is not a JSON string holding a list of tools",
    why="For alpaca and sharegpt, LLaMA-Factory passes `tools` to json.loads at tokenization: a JSON list "
        "written directly in the file raises a TypeError, invalid JSON text \"Invalid JSON format in tool "
        "description\", and an object or items without a name an AttributeError/KeyError.",
    fix="Store `tools` as a string: json.dumps([{\"name\": ..., \"description\": ..., \"parameters\": {...}}]).",
    bad=example([{"conversations": _conv(_CALL), "tools": json.loads(_TOOLS)}], _ENTRY),
    good=example([{"conversations": _conv(_CALL), "tools": _TOOLS}], _ENTRY),
)

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_THOUGHT_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def function_call_problem(content: str):
    """Why FunctionFormatter would raise on this content, or None. Mirrors formatter.py: the first
    <tool_call>...</tool_call> block if there is one, else the content less a <think> block."""
    match = _TOOL_CALL_BLOCK.search(content) if "<tool_call>" in content else None
    if match is not None:
        text = match.group(1)
    elif "<think>" in content:
        text = _THOUGHT_BLOCK.sub("", content, count=1)
    else:
        text = content
    try:
        calls = json.loads(text)
    except ValueError:
        return "is not valid JSON"
    if not isinstance(calls, list):
        calls = [calls]
    for call in calls:
        if not isinstance(call, dict):
            return f"holds a {type(call).__name__} where a {{\"name\", \"arguments\"}} object belongs"
        missing = [key for key in ("name", "arguments") if key not in call]
        if missing:
            return f"has no {' or '.join(repr(m) for m in missing)} key"
    return None


def tools_problem(tools):
    """Why the tool formatter would raise on this `tools` value, or None. Only non-empty values are formatted."""
    if not tools:
        return None
    if not isinstance(tools, str):
        return (f"is a JSON {type(tools).__name__} in the file, not a string: json.loads raises TypeError; "
                "store it as a JSON string")
    try:
        parsed = json.loads(tools)
    except ValueError:
        return "is not valid JSON text"
    if hasattr(parsed, "__len__") and len(parsed) == 0:
        return None
    if not isinstance(parsed, list):
        return f"holds a JSON {type(parsed).__name__}, not a list of tools"
    for i, tool in enumerate(parsed):
        if not isinstance(tool, dict):
            return f"item {i} is a {type(tool).__name__}, not a tool object"
        inner = tool.get("function", "") if tool.get("type") == "function" else tool
        if not isinstance(inner, dict) or "name" not in inner:
            return f"item {i} has no \"name\""
    return None
