"""Infer a dataset_info.json entry from a data file's records, and refuse when the records disagree.

Each record is described on its own (which field holds the messages, which keys hold role and content, which field
is the prompt, ...); the descriptions are merged over the whole file. Any point on which records differ (two
messages fields, `human` in some records and `user` in others, a string output here and a list there) stops the
inference with the records that disagree, because LLaMA-Factory would read one of the two shapes wrongly.

The entry written is minimal: keys equal to LLaMA-Factory's defaults are left out, and a `columns` or `tags` object,
when one is needed, is complete: a partial one silently sets every key it leaves out to null (spec §1.4).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from lfgate.validator.dataset_info import TAG_DEFAULTS

# Field names people use, in order of preference, for each alpaca column.
PROMPT_FIELDS = ("instruction", "prompt", "question", "text")
QUERY_FIELDS = ("input", "query")
RESPONSE_FIELDS = ("output", "response", "answer", "completion")
MEDIA_FIELDS = {"images": ("images", "image"), "videos": ("videos", "video"), "audios": ("audios", "audio")}
MESSAGE_FIELDS = ("conversations", "messages", "conversation", "dialog", "chat")
KTO_FIELDS = ("kto_tag", "label", "desirable")
ROLE_KEYS = ("from", "role")
CONTENT_KEYS = {"from": "value", "role": "content"}

# Role values and what they mean; the first of each is the default of the style that uses it.
ROLE_MEANINGS = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "model": "assistant", "bot": "assistant",
    "system": "system",
    "observation": "observation", "tool": "observation",
    "function_call": "function",
}
TAG_OF_MEANING = {"user": "user_tag", "assistant": "assistant_tag", "system": "system_tag",
                  "observation": "observation_tag", "function": "function_tag"}
# Complete tag sets per style: LLaMA-Factory's defaults for from/value, OpenAI's names for role/content.
STYLE_TAGS = {
    "from": dict(TAG_DEFAULTS),
    "role": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
             "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"},
}
SHOWN = 3  # records shown per disagreeing value


class Inconsistent(Exception):
    """The records do not fit one entry. `groups`: (description, first record indices, record count)."""

    def __init__(self, reason: str, groups: Iterable[Tuple[str, List[int], int]] = ()):
        super().__init__(reason)
        self.reason = reason
        self.groups = list(groups)

    def render(self) -> str:
        lines = [self.reason]
        for description, indices, count in self.groups:
            shown = ", ".join(str(i) for i in indices)
            more = f" and {count - len(indices)} more" if count > len(indices) else ""
            lines.append(f"  {description}: record {shown}{more}")
        return "\n".join(lines)


@dataclass
class Inferred:
    entry: Dict  # without file_name
    description: str
    samples: int


@dataclass
class _Votes:
    """Which value each record gave for one aspect, with the first few record indices per value."""

    seen: Dict[object, List[int]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # records, not messages
    last: Dict[object, int] = field(default_factory=dict)

    def add(self, value, index: int) -> None:
        if self.last.get(value) == index:  # records are added in order: one vote per record and value
            return
        self.last[value] = index
        self.counts[value] += 1
        shown = self.seen.setdefault(value, [])
        if len(shown) < SHOWN:
            shown.append(index)

    def only(self, aspect: str, describe=repr):
        if len(self.seen) > 1:
            raise Inconsistent(f"the records disagree on {aspect}:",
                               [(describe(v), idx, self.counts[v]) for v, idx in self.seen.items()])
        return next(iter(self.seen), None)


def _type_name(value) -> str:
    return "null" if value is None else {str: "string", bool: "boolean", int: "number", float: "number",
                                          list: "list", dict: "object"}.get(type(value), type(value).__name__)


class _Inference:
    def __init__(self):
        self.shape = _Votes()  # "messages" or "alpaca"
        self.columns: Dict[str, _Votes] = {}
        self.types: Dict[str, _Votes] = {}  # field -> type names (null excluded)
        self.role_key = _Votes()
        self.roles: Dict[str, _Votes] = {}  # meaning -> role values
        self.tool_calls: Optional[int] = None
        self.samples = 0

    # -- one record --------------------------------------------------------------------------------
    def add(self, index: int, record) -> None:
        self.samples += 1
        if not isinstance(record, dict):
            from lfgate.validator.datafile import wrapped_record

            if wrapped_record(record) is not None:  # a script that appends `[row]` instead of `row` wrote this
                raise Inconsistent(f"record {index} is a list around one record, not the record itself; "
                                   "LLaMA-Factory needs one object per sample. `lfgate fix` on this file unwraps "
                                   "every such record (DF015): register the fixed copy it writes")
            raise Inconsistent(f"record {index} is a {_type_name(record)}, not an object with fields; "
                               "LLaMA-Factory needs one object per sample")
        messages_field = _first_present(record, MESSAGE_FIELDS) or _list_of_dicts_field(record)
        self.shape.add("messages" if messages_field else "alpaca", index)
        if messages_field:
            self._vote("messages", messages_field, index)
            self._typed(messages_field, record[messages_field], index)
            self._messages(index, record[messages_field])
            for column in ("chosen", "rejected"):
                if column in record:
                    self._vote(column, column, index)
                    self._typed(column, record[column], index)
                    if isinstance(record[column], dict):
                        self._message(index, record[column])
        else:
            self._alpaca(index, record)
        for column, names in MEDIA_FIELDS.items():
            name = _first_present(record, names)
            if name:
                self._vote(column, name, index)
        for column in ("system", "tools"):
            if column in record:
                self._vote(column, column, index)
                self._typed(column, record[column], index)
        kto = _first_present(record, KTO_FIELDS)
        if kto:  # a boolean field; its type is checked only when some record makes it the KTO label
            self._typed(kto, record[kto], index)
            if isinstance(record[kto], bool) or kto == "kto_tag":
                self._vote("kto_tag", kto, index)

    def _vote(self, column: str, name: str, index: int) -> None:
        self.columns.setdefault(column, _Votes()).add(name, index)

    def _typed(self, name: str, value, index: int) -> None:
        if value is not None:
            self.types.setdefault(name, _Votes()).add(_type_name(value), index)

    def _alpaca(self, index: int, record: dict) -> None:
        for column, names in (("prompt", PROMPT_FIELDS), ("query", QUERY_FIELDS), ("response", RESPONSE_FIELDS)):
            name = _first_present(record, names)
            if name:
                self._vote(column, name, index)
                self._typed(name, record[name], index)
        for column in ("chosen", "rejected", "history"):
            if column in record:
                self._vote(column, column, index)
                self._typed(column, record[column], index)

    def _messages(self, index: int, messages) -> None:
        if not isinstance(messages, list):
            return
        for message in messages:
            self._message(index, message)

    def _message(self, index: int, message) -> None:
        if not isinstance(message, dict):
            raise Inconsistent(f"record {index} has a message that is a {_type_name(message)}, not an object")
        role_key = next((k for k in ROLE_KEYS if k in message), None)
        if role_key is None:
            raise Inconsistent(f"record {index} has a message without a role key ({' or '.join(ROLE_KEYS)}): "
                               f"{_short(message)}")
        self.role_key.add(role_key, index)
        content = message.get(CONTENT_KEYS[role_key])
        if isinstance(content, list):
            raise Inconsistent(f"record {index}: message content is a list of parts, the v1 data format "
                               "(USE_V1=1); the classic loader needs string content")
        self._typed("content", content, index)
        role = message[role_key]
        meaning = ROLE_MEANINGS.get(role) if isinstance(role, str) else None
        if meaning is None:
            known = ", ".join(sorted(ROLE_MEANINGS))
            raise Inconsistent(f"record {index} has a message with role {role!r}, which is none of {known}; "
                               "write the entry by hand with that role as a tag")
        self.roles.setdefault(meaning, _Votes()).add(role, index)
        if message.get("tool_calls") and self.tool_calls is None:
            self.tool_calls = index

    # -- the whole file ----------------------------------------------------------------------------
    def result(self) -> Inferred:
        if not self.samples:
            raise Inconsistent("the file holds no records")
        shape = self.shape.only("their shape", lambda v: "messages list" if v == "messages" else "alpaca fields")
        columns = {c: v.only(f"the field for `{c}`") for c, v in self.columns.items()}
        used = set(columns.values()) | {"content"}
        for name, votes in self.types.items():
            if name not in used:
                continue
            if name == "content":
                votes.only("the type of message contents", lambda t: f"a {t}")
            else:
                votes.only(f"the type of `{name}`", lambda t: f"a {t}")
        ranking = "chosen" in columns and "rejected" in columns
        if ("chosen" in columns) != ("rejected" in columns):
            missing = "rejected" if "chosen" in columns else "chosen"
            raise Inconsistent(f"the records have a `{'chosen' if missing == 'rejected' else 'rejected'}` field "
                               f"but no `{missing}` field; a preference dataset needs both")
        if "kto_tag" in columns and ranking:
            raise Inconsistent("the records have both a KTO label and chosen/rejected; pick one")
        entry: Dict = {}
        if shape == "messages":
            description = self._messages_entry(entry, columns, ranking)
        else:
            description = _alpaca_entry(entry, columns, ranking)
        if ranking:
            entry["ranking"] = True
            description += ", ranking (chosen/rejected)"
        if "kto_tag" in columns:
            description += f", KTO (label in `{columns['kto_tag']}`)"
        media = [c for c in MEDIA_FIELDS if c in columns]
        if media:
            description += ", media: " + ", ".join(f"{c} in `{columns[c]}`" for c in media)
        order = ("formatting", "ranking", "columns", "tags")
        entry = {k: entry[k] for k in sorted(entry, key=lambda k: order.index(k) if k in order else len(order))}
        return Inferred(entry=entry, description=description, samples=self.samples)

    def _messages_entry(self, entry: Dict, columns: Dict, ranking: bool) -> str:
        role_key = self.role_key.only("the role key of messages", lambda k: f"`{k}`") or "from"
        roles = {m: v.only(f"the role name for {m} messages", lambda r: f"role {r!r}") for m, v in self.roles.items()}
        tags = dict(STYLE_TAGS[role_key])
        for meaning, value in roles.items():
            tags[TAG_OF_MEANING[meaning]] = value
        openai = self.tool_calls is not None
        entry["formatting"] = "openai" if openai else "sharegpt"
        needed = {k: v for k, v in columns.items() if k in ("messages", "system", "tools", "images", "videos",
                                                              "audios", "chosen", "rejected", "kto_tag")}
        if needed != {"messages": "conversations"}:
            entry["columns"] = needed
        if tags != STYLE_TAGS["from"]:
            entry["tags"] = tags
        style = "OpenAI-style role/content messages" if role_key == "role" else "sharegpt from/value messages"
        if openai:
            return f"{style} with tool_calls (formatting openai, first in record {self.tool_calls})"
        return f"{style} in `{columns['messages']}`"


def _alpaca_entry(entry: Dict, columns: Dict, ranking: bool) -> str:
    if "prompt" not in columns and "response" not in columns and not ranking:
        raise Inconsistent("no field to train on: expected a messages list (conversations/messages) or alpaca "
                           "fields (instruction/input/output, prompt/response, text)")
    wanted = {k: v for k, v in columns.items() if k in ("prompt", "query", "response", "history", "system",
                                                          "tools", "images", "videos", "audios", "chosen",
                                                          "rejected", "kto_tag")}
    if ranking:
        wanted.pop("response", None)  # the pairwise branch wins over the response column
    if wanted != {"prompt": "instruction", "query": "input", "response": "output"}:
        entry["columns"] = wanted
    if set(wanted) == {"prompt"}:
        return f"plain text in `{wanted['prompt']}` (pretraining)"
    return "alpaca fields " + ", ".join(f"`{v}`" for v in wanted.values())


def _first_present(record: dict, names) -> Optional[str]:
    return next((n for n in names if n in record), None)


def _list_of_dicts_field(record: dict) -> Optional[str]:
    for name, value in record.items():
        if isinstance(value, list) and value and all(isinstance(m, dict) for m in value) \
                and any(k in value[0] for k in ROLE_KEYS) and name not in ("chosen", "rejected"):
            return name
    return None


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def infer(records: Iterable[Tuple[int, object]]) -> Inferred:
    """The entry for these (index, record) pairs; raises Inconsistent with the reason and disagreeing records."""
    inference = _Inference()
    for index, record in records:
        inference.add(index, record)
    return inference.result()
