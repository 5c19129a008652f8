"""Chat templates, as LLaMA-Factory 0.9.5 defines them (data/template.py, formatter.py, tool_utils.py).

A template turns messages into token ids the way LLaMA-Factory does: each message is a list of *slots*
(text with ``{{content}}``, or the tokenizer's bos/eos token); each text slot is encoded on its own with
``add_special_tokens=False``. Turn 0 gets the prefix and the system message (with the tool description).
Only text templates are here; multimodal ones are refused before anything loads (see commands/train.py).
``fix_chat_template`` gives the tokenizer the template's jinja, so that the saved tokenizer's apply_chat_template
renders what was trained on (LLaMA-Factory's Template._get_jinja_template / fix_jinja_template).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

BOS, EOS = ("bos_token",), ("eos_token",)  # slot markers: the tokenizer's own bos / eos token
Slots = Tuple[object, ...]

USER, ASSISTANT, SYSTEM, FUNCTION, OBSERVATION = "user", "assistant", "system", "function", "observation"


@dataclass(frozen=True)
class Template:
    name: str
    user: Slots = ("{{content}}",)
    assistant: Slots = ("{{content}}", EOS)
    system: Optional[Slots] = None  # None: same slots as user
    function: Optional[Slots] = None  # None: same slots as assistant
    observation: Optional[Slots] = None  # None: same slots as user
    prefix: Slots = ()
    default_system: str = ""
    stop_words: Tuple[str, ...] = ()
    efficient_eos: bool = False
    replace_eos: bool = False
    tool_format: str = "default"
    reasoning: bool = False  # LLaMA-Factory's ReasoningTemplate (qwen3): empty <think></think> handling
    thought_words: Tuple[str, str] = ("<think>\n", "\n</think>\n\n")
    tool_call_words: Tuple[str, str] = ("<tool_call>", "</tool_call>")
    enable_thinking: Optional[bool] = True
    replace_jinja: bool = False  # LLaMA-Factory's replace_jinja_template: over the tokenizer's own chat template

    def slots(self, role: str) -> Slots:
        if role == USER:
            return self.user
        if role == ASSISTANT:
            return self.assistant
        if role == SYSTEM:
            return self.system if self.system is not None else self.user
        if role == FUNCTION:
            return self.function if self.function is not None else self.assistant
        if role == OBSERVATION:
            return self.observation if self.observation is not None else self.user
        raise ValueError(f"unexpected role {role!r}")


def _template(name, **kw) -> Template:
    # register_template's defaults: efficient_eos drops the eos slot from the default assistant slots.
    if "assistant" not in kw:
        kw["assistant"] = ("{{content}}",) if kw.get("efficient_eos") else ("{{content}}", EOS)
    return Template(name=name, **kw)


_IM_USER = ("<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n",)
_IM_ASSISTANT = ("{{content}}<|im_end|>\n",)
_IM_SYSTEM = ("<|im_start|>system\n{{content}}<|im_end|>\n",)
_QWEN_OBSERVATION = ("<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n"
                     "<|im_start|>assistant\n",)
_QWEN = dict(user=_IM_USER, assistant=_IM_ASSISTANT, system=_IM_SYSTEM, function=_IM_ASSISTANT,
             observation=_QWEN_OBSERVATION, tool_format="qwen", stop_words=("<|im_end|>",), replace_eos=True)

TEMPLATES: Dict[str, Template] = {t.name: t for t in (
    _template("chatml", user=_IM_USER, assistant=_IM_ASSISTANT, system=_IM_SYSTEM,
              observation=("<|im_start|>tool\n{{content}}<|im_end|>\n<|im_start|>assistant\n",),
              stop_words=("<|im_end|>", "<|im_start|>"), replace_eos=True, replace_jinja=True),
    _template("default", user=("Human: {{content}}", EOS, "\nAssistant:"), assistant=("{{content}}", EOS, "\n"),
              system=("System: {{content}}", EOS, "\n"), replace_jinja=True),
    _template("empty", assistant=("{{content}}",)),
    _template("llama3",
              user=("<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n",),
              assistant=("{{content}}<|eot_id|>",),
              system=("<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>",),
              function=("{{content}}<|eot_id|>",),
              observation=("<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n",),
              tool_format="llama3", prefix=(BOS,), stop_words=("<|eot_id|>", "<|eom_id|>"), replace_eos=True),
    _template("qwen", default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", **_QWEN),
    _template("qwen3", reasoning=True, **_QWEN),
    _template("qwen3_nothink", **_QWEN),
)}


def get_template(name: Optional[str], *, default_system: Optional[str] = None, tool_format: Optional[str] = None,
                 enable_thinking: Optional[bool] = True) -> Template:
    """The named template with the data arguments LLaMA-Factory applies to it (get_template_and_fix_tokenizer)."""
    template = TEMPLATES[name or "empty"]  # no template: LLaMA-Factory parses the tokenizer's, else uses empty
    changes: Dict[str, Any] = {}
    if tool_format is not None:
        changes["tool_format"] = tool_format
        changes["function"] = ("{{content}}",) if template.efficient_eos else ("{{content}}", EOS)
    if default_system is not None:
        changes["default_system"] = default_system
    if template.reasoning:
        changes["enable_thinking"] = enable_thinking
    return replace(template, **changes) if changes else template


# -- tokenizer fixes (Template.fix_special_tokens) --------------------------------------------------------------
def fix_tokenizer(tokenizer, template: Template) -> List[str]:
    """Set eos/pad and add stop words as LLaMA-Factory does; returns notes for the log."""
    notes = []
    stop_words = list(template.stop_words)
    if template.replace_eos:
        notes += _set_eos(tokenizer, stop_words[0])
        stop_words = stop_words[1:]
    if tokenizer.eos_token_id is None:
        notes += _set_eos(tokenizer, "<|endoftext|>")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        notes.append(f"pad token set to {tokenizer.pad_token}")
    if stop_words:
        try:
            added = tokenizer.add_special_tokens({"additional_special_tokens": stop_words},
                                                 replace_additional_special_tokens=False)
        except TypeError:
            added = tokenizer.add_special_tokens({"additional_special_tokens": stop_words})
        if added:
            notes.append(f"added stop words {', '.join(stop_words)} to the vocabulary (resize_vocab needed)")
    return notes


def _set_eos(tokenizer, eos_token: str) -> List[str]:
    if tokenizer.eos_token == eos_token:
        return []
    added = tokenizer.add_special_tokens({"eos_token": eos_token})
    return [f"eos token set to {eos_token}"] + (["it is a new token: set resize_vocab: true"] if added else [])


# -- the chat template the saved tokenizer carries (Template.fix_jinja_template) ---------------------------------
def fix_chat_template(tokenizer, template: Template) -> None:
    """Set the template's jinja on the tokenizer where it has none, or where LLaMA-Factory replaces the model's own
    (chatml, default); call it after fix_tokenizer, whose eos token the jinja writes out."""
    if getattr(tokenizer, "chat_template", None) is None or template.replace_jinja:
        tokenizer.chat_template = chat_template_jinja(template, tokenizer)


def chat_template_jinja(template: Template, tokenizer) -> str:
    """The jinja LLaMA-Factory writes for a template (data/template.py _get_jinja_template): prefix, the system
    message (the default one unless the messages start with a system message), then user and assistant messages.
    Like LLaMA-Factory's it renders user and assistant messages only, no tools, and no empty thought (qwen3)."""
    prefix = _slots_jinja(template.prefix, tokenizer)
    system = _slots_jinja(template.slots(SYSTEM), tokenizer, placeholder="system_message")
    text = "{{ " + prefix + " }}" if prefix else ""
    if template.default_system:
        text += "{% set system_message = " + _jinja_string(template.default_system) + " %}"
    return text + (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}"
        "{% if system_message is defined %}{{ " + system + " }}{% endif %}"
        "{% for message in loop_messages %}"
        "{% set content = message['content'] %}"
        "{% if message['role'] == 'user' %}"
        "{{ " + _slots_jinja(template.slots(USER), tokenizer) + " }}"
        "{% elif message['role'] == 'assistant' %}"
        "{{ " + _slots_jinja(template.slots(ASSISTANT), tokenizer) + " }}"
        "{% endif %}"
        "{% endfor %}")


def _slots_jinja(slots: Slots, tokenizer, placeholder: str = "content") -> str:
    items = []
    for slot in slots:
        if isinstance(slot, str):
            pieces = slot.split("{{content}}")
            if pieces[0]:
                items.append(_jinja_string(pieces[0]))
            if len(pieces) > 1:
                items.append(placeholder)
                if pieces[1]:
                    items.append(_jinja_string(pieces[1]))
        elif slot == BOS and tokenizer.bos_token_id is not None:  # the token itself: {{ eos_token }} may change
            items.append(_jinja_string(tokenizer.bos_token))
        elif slot == EOS and tokenizer.eos_token_id is not None:
            items.append(_jinja_string(tokenizer.eos_token))
    return " + ".join(items)


def _jinja_string(text: str) -> str:
    # jinja unescapes its string literals: a backslash is escaped too (LLaMA-Factory escapes the quote only)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- encoding ------------------------------------------------------------------------------------------------------
def _apply(slots: Slots, content: str) -> list:
    return [s.replace("{{content}}", content, 1) if isinstance(s, str) else s for s in slots]


def _to_ids(tokenizer, elements: Sequence[object]) -> List[int]:
    ids: List[int] = []
    for elem in elements:
        if isinstance(elem, str):
            if elem:
                ids += tokenizer.encode(elem, add_special_tokens=False)
        elif elem == BOS:
            if tokenizer.bos_token_id is not None:
                ids.append(tokenizer.bos_token_id)
        elif elem == EOS:
            if tokenizer.eos_token_id is not None:
                ids.append(tokenizer.eos_token_id)
    return ids


def render(template: Template, messages: List[dict], system: Optional[str], tools: Optional[str]) -> List[list]:
    """Each message as its list of elements (strings and bos/eos markers), before tokenisation."""
    system = system or template.default_system
    out = []
    for i, message in enumerate(messages):
        elements: list = []
        if i == 0:
            elements += list(template.prefix)
            if system or tools:
                tool_text = format_tools(template.tool_format, tools) if tools else ""
                elements += _apply(template.slots(SYSTEM), system + tool_text)
        role, content = message["role"], message["content"]
        if role == FUNCTION:
            content = format_function(template, content)
        elements += _apply(template.slots(role), content)
        out.append(elements)
    return out


def encode_multiturn(tokenizer, template: Template, messages: List[dict], system: Optional[str] = None,
                     tools: Optional[str] = None, discarding_history_cot: bool = False
                     ) -> List[Tuple[List[int], List[int]]]:
    """(prompt ids, response ids) per turn, as Template.encode_multiturn (and ReasoningTemplate's)."""
    messages = [dict(m) for m in messages]
    if template.reasoning:
        if template.enable_thinking is False:  # remove all chain of thought
            for i in range(1, len(messages), 2):
                messages[i]["content"] = remove_thought(template, messages[i]["content"])
        if discarding_history_cot:  # keep the last one only
            for i in range(1, len(messages) - 2, 2):
                messages[i]["content"] = remove_thought(template, messages[i]["content"])
    encoded = [_to_ids(tokenizer, elements) for elements in render(template, messages, system, tools)]
    if template.reasoning:
        turns = [len(messages) - 2] if discarding_history_cot else range(0, len(messages), 2)
        empty_thought = tokenizer.encode("".join(template.thought_words), add_special_tokens=False)
        open_word, close_word = (w.strip() for w in template.thought_words)
        for i in turns:
            answer = messages[i + 1]["content"]
            if open_word not in answer and close_word not in answer:  # add an empty thought
                if not template.enable_thinking:
                    encoded[i] = encoded[i] + empty_thought  # in the prompt: no loss on it
                else:
                    encoded[i + 1] = empty_thought + encoded[i + 1]
    return [(encoded[i], encoded[i + 1]) for i in range(0, len(encoded), 2)]


def remove_thought(template: Template, content: str) -> str:
    start, end = (re.escape(w) for w in template.thought_words)
    return re.sub(f"{start}(.*?){end}", "", content, flags=re.DOTALL).lstrip("\n")


# -- tools (tool_utils.py: default, qwen, llama3) ---------------------------------------------------------------
_DEFAULT_TOOL_PROMPT = (
    "You have access to the following tools:\n{tool_text}"
    "Use the following format if using a tool:\n"
    "```\n"
    "Action: tool name (one of [{tool_names}])\n"
    "Action Input: the input to the tool, in a JSON format representing the kwargs "
    """(e.g. ```{{"input": "hello world", "num_beams": 5}}```)\n"""
    "```\n"
)
_LLAMA3_TOOL_PROMPT = (
    "Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n"
    "You have access to the following functions. To call a function, please respond with JSON for a function call. "
    """Respond in the format {{"name": function name, "parameters": dictionary of argument name and its value}}. """
    "Do not use variables.\n\n{tool_text}"
)
_QWEN_TOOL_PROMPT = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>{tool_text}"
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    """<tool_call></tool_call> XML tags:\n<tool_call>\n{{"name": <function-name>, """
    """"arguments": <args-json-object>}}\n</tool_call>"""
)


def format_tools(tool_format: str, tools_json: str) -> str:
    tools = json.loads(tools_json)
    if len(tools) == 0:
        return ""
    if tool_format == "qwen":
        text = "".join("\n" + json.dumps(_wrap(t), ensure_ascii=False) for t in tools)
        return _QWEN_TOOL_PROMPT.format(tool_text=text)
    if tool_format == "llama3":
        text = "".join(json.dumps(_wrap(t), indent=4, ensure_ascii=False) + "\n\n" for t in tools)
        return _LLAMA3_TOOL_PROMPT.format(date=datetime.now().strftime("%d %b %Y"), tool_text=text)
    tool_text, names = "", []
    for tool in tools:
        tool = tool.get("function", "") if tool.get("type") == "function" else tool
        params = ""
        for name, param in tool["parameters"]["properties"].items():
            required = ", required" if name in tool["parameters"].get("required", []) else ""
            enum = f", should be one of [{', '.join(param['enum'])}]" if param.get("enum") else ""
            items = f", where each item should be {param['items'].get('type', '')}" if param.get("items") else ""
            params += f"  - {name} ({param.get('type', '')}{required}): {param.get('description', '')}{enum}{items}\n"
        tool_text += (f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\n"
                      f"Tool Args:\n{params}\n")
        names.append(tool["name"])
    return _DEFAULT_TOOL_PROMPT.format(tool_text=tool_text, tool_names=", ".join(names))


def _wrap(tool: dict) -> dict:
    return tool if tool.get("type") == "function" else {"type": "function", "function": tool}


def format_function(template: Template, content: str) -> str:
    """A function-call message (JSON) as the template's tool format writes it (FunctionFormatter.apply)."""
    call_re = re.compile(f"{re.escape(template.tool_call_words[0])}(.*?){re.escape(template.tool_call_words[1])}",
                         re.DOTALL)
    call = call_re.search(content)
    if call is None:
        thought_re = re.compile(f"{re.escape(template.thought_words[0])}(.*?){re.escape(template.thought_words[1])}",
                                re.DOTALL)
        thought = thought_re.search(content)
        json_part = content.replace(thought.group(0), "") if thought else content
        text = _format_calls(template.tool_format, _parse_calls(json_part, content))
        return (thought.group(0) + text) if thought else text
    text = _format_calls(template.tool_format, _parse_calls(call.group(1), content))
    return content.replace(call.group(0), "") + text


def _parse_calls(json_content: str, content: str) -> List[Tuple[str, str]]:
    try:
        calls = json.loads(json_content)
    except json.JSONDecodeError:
        raise ValueError(f"Invalid JSON format in function message: {[content]}.") from None
    calls = calls if isinstance(calls, list) else [calls]
    return [(c["name"], json.dumps(c["arguments"], ensure_ascii=False)) for c in calls]


def _format_calls(tool_format: str, calls: List[Tuple[str, str]]) -> str:
    if tool_format == "qwen":
        texts = [json.dumps({"name": n, "arguments": json.loads(a)}, ensure_ascii=False) for n, a in calls]
        return "\n".join(f"<tool_call>\n{t}\n</tool_call>" for t in texts)
    if tool_format == "llama3":
        objs = [{"name": n, "parameters": json.loads(a)} for n, a in calls]
        return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)
    return "\n".join(f"Action: {n}\nAction Input: {a}" for n, a in calls)


__all__ = ["TEMPLATES", "Template", "chat_template_jinja", "encode_multiturn", "fix_chat_template", "fix_tokenizer",
           "get_template", "render"]
