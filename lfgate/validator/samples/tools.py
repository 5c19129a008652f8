"""Tool rules: function-call message contents and the `tools` description (spec §2.7)."""

from __future__ import annotations

import json
import re
from typing import Dict, Optional

from lfgate.registry import ERROR, rule
from lfgate.validator.converter import FUNCTION
from lfgate.validator.samples.base import KEPT, MESSAGE, Finding, State, check, dataset_check, example, turns

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

# LLaMA-Factory 0.9.5 templates' thought_words and tool_call_words (template.py), where they differ from the
# defaults; FunctionFormatter uses them to find the JSON of a function-call message.
_DEFAULT_THOUGHT = ("<think>\n", "\n</think>\n\n")
_DEFAULT_TOOL_CALL = ("<tool_call>", "</tool_call>")
THOUGHT_WORDS = {
    **dict.fromkeys(("hy3", "glm4_7", "mimo_v2", "aeva"), ("<think>", "</think>")),
    **dict.fromkeys(("gemma4", "gemma4n"), ("<|channel>thought\n", "<channel|>")),
    "gpt_oss": ("<|channel|>analysis<|message|>", "<|end|><|start|>assistant<|channel|>final<|message|>"),
    "kimi_vl": ("\u25c1think\u25b7", "\u25c1/think\u25b7"),
    "seed_oss": ("<seed:think>", "</seed:think>"),
}
TOOL_CALL_WORDS = dict.fromkeys(("lfm2", "lfm2_vl"), ("<|tool_call_start|>", "<|tool_call_end|>"))
# tool formats that iterate the arguments (so they must be an object), or that refuse parallel calls
# (observed with each 0.9.5 template's FunctionFormatter)
ARGUMENTS_OBJECT = frozenset(("glm4_moe", "glm4_5v", "glm4_7", "lfm2", "lfm2_vl", "minimax2", "qwen3_5",
                              "qwen3_5_nothink", "qwen3_6", "seed_oss", "aeva"))
SINGLE_CALL = frozenset(("chatglm3", "glm4", "glm4v", "glm_ocr", "glmz1"))
_LENIENT_THOUGHT = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_PATTERNS: dict = {}


def _patterns(template):
    """(tool-call regex, its opening word, thought regex, its opening word) for the template."""
    if template not in _PATTERNS:
        def block(words):
            return re.compile(f"{re.escape(words[0])}(.*?){re.escape(words[1])}", re.DOTALL), words[0]
        _PATTERNS[template] = (*block(TOOL_CALL_WORDS.get(template, _DEFAULT_TOOL_CALL)),
                               *block(THOUGHT_WORDS.get(template, _DEFAULT_THOUGHT)))
    return _PATTERNS[template]


def function_call_problem(content: str, template=None):
    """Why FunctionFormatter would raise on this content, or None. As formatter.py does: the JSON inside the first
    tool-call block if there is one, else the content less its thought block. With no template known, any
    <think>...</think> block is accepted (templates differ in the exact thought words)."""
    tool_call, tool_call_open, thought, thought_open = _patterns(template)
    match = tool_call.search(content) if tool_call_open in content else None  # `in` first: it is far cheaper
    if match is not None:
        text = match.group(1)
    elif template is None:
        text = _LENIENT_THOUGHT.sub("", content, count=1) if "<think>" in content else content
    else:
        found = thought.search(content) if thought_open in content else None
        text = content.replace(found.group(0), "") if found else content
    try:
        calls = json.loads(text)
    except ValueError:
        return "is not valid JSON"
    if not isinstance(calls, list):
        calls = [calls]
    elif len(calls) > 1 and template in SINGLE_CALL:
        return f"holds {len(calls)} parallel calls, which the {template} template does not support"
    for call in calls:
        if not isinstance(call, dict):
            return f"holds a {type(call).__name__} where a {{\"name\", \"arguments\"}} object belongs"
        missing = [key for key in ("name", "arguments") if key not in call]
        if missing:
            return f"has no {' or '.join(repr(m) for m in missing)} key"
        if template in ARGUMENTS_OBJECT and not isinstance(call["arguments"], dict):
            return f"gives `arguments` as a {type(call['arguments']).__name__}; the {template} template needs an object"
    return None


# templates whose tool format is not LLaMA-Factory's default one (which needs every tool's `name` and
# `parameters.properties`); phi4_mini passes the text through, seed_oss any JSON (observed per 0.9.5 template)
OWN_TOOL_FORMAT = frozenset((
    "aeva", "bailing_v2", "chatglm3", "gemma4", "gemma4n", "glm4", "glm4_5v", "glm4_7", "glm4_moe", "glm4v",
    "glm_ocr", "glmz1", "keye_vl", "lfm2", "lfm2_vl", "llama3", "llama4", "llava_next_llama3", "llava_next_mistral",
    "llava_next_qwen", "llava_next_video_mistral", "mimo", "mimo_v2", "mimo_vl", "minimax1", "minimax2",
    "ministral", "ministral3", "mistral", "mistral_small", "mllama", "phi4_mini", "pixtral", "qwen", "qwen2_omni",
    "qwen2_vl", "qwen3", "qwen3_5", "qwen3_5_nothink", "qwen3_6", "qwen3_nothink", "qwen3_omni",
    "qwen3_omni_nothink", "qwen3_vl", "qwen3_vl_nothink", "seed_oss"))


NAME_REQUIRED = frozenset(("chatglm3", "gemma4", "gemma4n", "glm4", "glm4v", "glm_ocr", "glmz1"))


def tools_problem(tools, template=None):
    """Why the template's tool formatter would raise on this `tools` value, or None. Only non-empty values are
    formatted. With no template known, only what every tool format rejects is reported."""
    if not tools:
        return None
    if not isinstance(tools, str):
        return (f"is a JSON {type(tools).__name__} in the file, not a string: json.loads raises TypeError; "
                "store it as a JSON string")
    if template == "phi4_mini":
        return None
    try:
        parsed = json.loads(tools)
    except ValueError:
        return "is not valid JSON text"
    if hasattr(parsed, "__len__") and len(parsed) == 0:
        return None
    if template == "seed_oss":
        return None
    if not isinstance(parsed, list):
        return f"holds a JSON {type(parsed).__name__}, not a list of tools"
    default_format = template is not None and template not in OWN_TOOL_FORMAT
    for i, tool in enumerate(parsed):
        if not isinstance(tool, dict):
            return f"item {i} is a {type(tool).__name__}, not a tool object"
        if default_format or template in NAME_REQUIRED:
            inner = tool.get("function", "") if tool.get("type") == "function" else tool
            if not isinstance(inner, dict) or "name" not in inner:
                return f"item {i} has no \"name\" (the {template} template's tool format needs it)"
        if default_format:
            params = inner.get("parameters")
            if not isinstance(params, dict) or not isinstance(params.get("properties"), dict):
                return (f"item {i} has no \"parameters\": {{\"properties\": ...}} (the {template} template's "
                        "tool format needs it)")
    return None


# -- the checks ------------------------------------------------------------------------------------------------------
@check(MESSAGE, FUNCTION_CALL)
def function_call(c, s, message, path) -> None:
    content = message["content"]
    if message["role"] != FUNCTION or not isinstance(content, str):
        return
    problem = function_call_problem(content, c.usage.template)
    if problem:
        s.out.append(Finding(FUNCTION_CALL, f"this function-call content {problem}: LLaMA-Factory raises at "
                             "tokenization. Write {\"name\": ..., \"arguments\": {...}}.", s.index, path or ()))


_CACHE_SIZE = 256


@dataset_check(KEPT, TOOLS_INVALID, when=lambda c: c.stage != "pt")
class ToolsJudged(State):
    """Each kept sample's `tools` text, judged once per worker: datasets repeat the same few tool lists."""

    def __init__(self, c):
        self.cache: Dict[str, Optional[str]] = {}  # text -> its problem, or None: fine

    def add(self, c, s) -> None:
        value = s.aligned.tools
        if not value:
            return
        problem = self._problem(value, c.usage.template)
        if problem:
            column = c.entry.columns.get("tools")
            s.out.append(Finding(TOOLS_INVALID, f"`{column}` {problem}: LLaMA-Factory raises at tokenization. "
                                 "Store it as a JSON string of a list of tools.", s.index, (column,)))

    def _problem(self, value, template):
        if not isinstance(value, str):
            return tools_problem(value, template)
        cache = self.cache
        if value in cache:
            return cache[value]
        problem = tools_problem(value, template)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[value] = problem
        return problem

    def known_fine(self, text: str) -> bool:
        """Whether this worker has judged the text and found nothing (what the fast paths vouch for)."""
        return self.cache.get(text, 0) is None

    def merge(self, other) -> None:
        pass  # a per-worker cache: nothing to add up
