"""The clean-record fast path: prove, cheaply, that the full per-record pipeline would find nothing in a record.

Almost every record of a real dataset is an ordinary one: a sharegpt conversation of user/assistant turns that
alternate, or an alpaca instruction with its output; non-empty strings, no media placeholder, keys and types the
dataset has shown before. For such a record the full pipeline (converter replay, stage processor, sample rules,
Arrow type tracking) reports nothing and only moves counters. ``take`` (``CleanChat``, ``CleanAlpaca``; pick with
``for_scan``) recognises exactly those records and returns how many messages the record has; the caller adds
the counters in bulk (``credit``). Anything else, including every record the fast
path is not sure about, goes through the full pipeline unchanged.

The fast path only starts once the full pipeline has *primed* the state it would otherwise touch: the roles are
known to the role tally, the field types are known to the type tracker, the "seen" flags are set. From then on a
clean record changes nothing but counts, which is what makes the shortcut exact: ``tests/test_fastpath.py``
checks that reports and facts are identical with and without it, on generated and mutated datasets.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Dict, Optional

from lfguard.validator.converter import ASSISTANT, USER
from lfguard.validator.samples.base import CHARS_PER_TOKEN

_SCALAR_KIND = {str: "string", int: "number", float: "number", bool: "boolean"}
_MAX_SHAPES = 64  # distinct key orders remembered per scan
_LONG_DIGITS = re.compile(rb"\d{19,}")  # datafile.big_integer's trigger


class CleanChat:
    """The fast path for sharegpt sft records. Build with ``for_scan``; ``take(value, raw)`` -> messages or 0."""

    def __init__(self, entry, checker, tracker):
        tags, cols = entry.tags, entry.columns
        self.checker, self.tracker = checker, tracker
        self.messages_col = cols.get("messages")
        self.tools_col = cols.get("tools") or None
        # fields the converter reads as strings: None, or a string the rules have nothing to say about
        self.string_cols = self.extra_cols = tuple(c for c in (cols.get("system"), self.tools_col) if c)
        self.role_tag, self.content_tag = tags.get("role_tag"), tags.get("content_tag")
        self.role_of, self.content_of = itemgetter(self.role_tag), itemgetter(self.content_tag)
        self.user_tag, self.assistant_tag = tags.get("user_tag"), tags.get("assistant_tag")
        named = {v for v in cols.values() if v}
        self.reserved = named - {self.messages_col, *self.string_cols}  # fields the converter reads otherwise
        self.placeholder, self.lead, self.cutoff_budget = _text_limits(checker)
        self.expected: Dict[int, list] = {}
        self.shapes: Dict[tuple, object] = {}
        self.primed = False

    @classmethod
    def for_scan(cls, entry, checker, tracker) -> Optional["CleanChat"]:
        """A fast path for this dataset, or None when its records always need the full pipeline."""
        if not _plain_sft(entry, checker, "sharegpt", ("messages", "system", "tools")):
            return None
        cols, tags = entry.columns, entry.tags
        role_tag, content_tag = tags.get("role_tag"), tags.get("content_tag")
        user, assistant, system = tags.get("user_tag"), tags.get("assistant_tag"), tags.get("system_tag")
        if not all(isinstance(t, str) for t in (role_tag, content_tag, user, assistant)) or role_tag == content_tag:
            return None
        if system in (user, assistant) or user == assistant or not isinstance(cols.get("messages"), str):
            return None
        if checker.mapping.get(user) != USER or checker.mapping.get(assistant) != ASSISTANT:
            return None
        return cls(entry, checker, tracker)

    # -- priming: the state the full pipeline must have set before a record may skip it --------------------------
    def _ready(self) -> bool:
        c, t = self.checker, self.tracker
        if not (c.messages_seen and c.role_key_seen and c.content_key_seen and c.leading_system_missing):
            return False
        if self.messages_col in c.pending_columns:
            return False
        counts = c.roles.counts
        if self.user_tag not in counts or self.assistant_tag not in counts:
            return False
        if t.track_types:
            node = t.root.fields.get(self.messages_col)
            item = node.item if node is not None else None
            if node is None or "list" not in node.kinds or item is None or "object" not in item.kinds:
                return False
            for tag in (self.role_tag, self.content_tag):
                sub = item.fields.get(tag)
                if sub is None or "string" not in sub.kinds:
                    return False
        self.primed = True
        return True

    def _shape(self, keys: tuple):
        """For one order of top-level keys: (string fields present, other fields), or None when records with
        these keys need the full pipeline (no messages field, or a field the converter reads otherwise)."""
        if self.messages_col not in keys:
            return None
        strings, extras = [], []
        for key in keys:
            if key == self.messages_col:
                continue
            if key in self.reserved:
                return None
            (strings if key in self.string_cols else extras).append(key)
        shape = (tuple(strings), tuple(extras))
        if len(self.shapes) < _MAX_SHAPES:
            self.shapes[keys] = shape
        return shape

    def take(self, value, raw: bytes) -> int:
        """The number of messages when the full pipeline would find nothing in this record and change only the
        counters ``credit`` adds; else 0. Must not change any state but its own caches."""
        if type(value) is not dict:
            return 0
        if not self.primed and not self._ready():
            return 0
        keys = tuple(value)
        shape = self.shapes.get(keys)
        if shape is None:
            shape = self._shape(keys)
            if shape is None:
                return 0
        strings, extras = shape
        fields = self.tracker.root.fields if self.tracker.track_types else None
        extra_chars = _strings_ok(self, value, strings, fields, self.checker.pending_columns)
        if extra_chars < 0 or not _extras_ok(value, extras, fields, raw):
            return 0
        conv = value[self.messages_col]
        if type(conv) is not list:
            return 0
        n = len(conv)
        expected = self.expected.get(n)
        if expected is None:
            if n < 2 or n % 2 or n > 4096:
                return 0
            expected = self.expected[n] = [self.user_tag, self.assistant_tag] * (n // 2)
        try:
            if list(map(self.role_of, conv)) != expected:
                return 0
            texts = list(map(self.content_of, conv))
            joined = "\0".join(texts)  # TypeError unless every content is a string
        except (TypeError, KeyError):
            return 0
        keys = len(value) + sum(map(len, conv))
        if keys != len(value) + 2 * n or "" in texts:  # a message with another key; an empty content
            return 0
        if self.lead is None or (self.lead in joined and self.placeholder.search(joined)):
            return 0
        if self.cutoff_budget is not None:
            # sum of ceil(chars / CHARS_PER_TOKEN) per message <= (chars + (CPT - 1) * n) / CPT: within cutoff_len
            chars = len(joined) - (n - 1) + extra_chars
            if chars + (CHARS_PER_TOKEN - 1) * n > self.cutoff_budget:
                return 0
        # the type tracker flags a possible repeated key when the bytes hold more `":` than the keys parsed
        if raw is not None and raw.count(b'":') > keys:
            return 0
        return n

    def credit(self, records: int, messages: int, last_index: int) -> None:
        """Add what ``records`` clean records (``messages`` messages in all) do to the checker and tracker."""
        if records:
            _credit(self, records, last_index)
            counts = self.checker.roles.counts
            counts[self.user_tag] += messages // 2
            counts[self.assistant_tag] += messages // 2


class CleanAlpaca:
    """The fast path for alpaca sft records: instruction and/or input, a non-empty output, string system and
    tools, an absent or empty history, other fields scalar."""

    def __init__(self, entry, checker, tracker):
        cols = entry.columns
        self.checker, self.tracker = checker, tracker
        self.prompt_col, self.query_col = cols.get("prompt") or None, cols.get("query") or None
        self.response_col, self.history_col = cols.get("response"), cols.get("history") or None
        self.tools_col = cols.get("tools") or None
        self.extra_cols = tuple(c for c in (cols.get("system"), self.tools_col) if c)  # added to the first turn
        self.string_cols = tuple(c for c in (self.prompt_col, self.query_col, self.response_col) if c) + \
            self.extra_cols
        named = {v for v in cols.values() if v} | set(checker.unread_fields)
        self.reserved = named - {*self.string_cols, self.history_col}
        self.placeholder, self.lead, self.cutoff_budget = _text_limits(checker)
        self.shapes: Dict[tuple, object] = {}

    def _shape(self, keys: tuple):
        strings, extras, history = [], [], False
        for key in keys:
            if key in self.reserved:
                return None
            if key == self.history_col:
                history = True
            else:
                (strings if key in self.string_cols else extras).append(key)
        shape = (tuple(strings), tuple(extras), history)
        if len(self.shapes) < _MAX_SHAPES:
            self.shapes[keys] = shape
        return shape

    def take(self, value, raw: bytes) -> int:
        if type(value) is not dict:
            return 0
        keys = tuple(value)
        shape = self.shapes.get(keys)
        if shape is None:
            shape = self._shape(keys)
            if shape is None:
                return 0
        strings, extras, history = shape
        fields = self.tracker.root.fields if self.tracker.track_types else None
        pending = self.checker.pending_columns
        extra_chars = _strings_ok(self, value, strings, fields, pending)
        if extra_chars < 0 or not _extras_ok(value, extras, fields, raw):
            return 0
        if history:  # null or [] adds no turn; anything else goes the full way
            if self.history_col in pending:
                return 0
            past = value[self.history_col]
            if past is not None:
                if past != [] or type(past) is not list:
                    return 0
                if fields is not None:
                    node = fields.get(self.history_col)
                    if node is None or "list" not in node.kinds:
                        return 0
        prompt = value.get(self.prompt_col) if self.prompt_col else None
        query = value.get(self.query_col) if self.query_col else None
        user = prompt + "\n" + query if prompt and query else prompt or query
        answer = value.get(self.response_col)
        if not user or not answer:  # an empty turn, or no response: the full pipeline says what happens
            return 0
        joined = user + "\0" + answer
        if self.lead is None or (self.lead in joined and self.placeholder.search(joined)):
            return 0
        if self.cutoff_budget is not None:
            chars = len(user) + len(answer) + extra_chars
            if chars + (CHARS_PER_TOKEN - 1) * 2 > self.cutoff_budget:
                return 0
        if raw is not None and raw.count(b'":') > len(value):
            return 0
        return 2

    def credit(self, records: int, messages: int, last_index: int) -> None:
        if records:
            _credit(self, records, last_index)


def _credit(fast, records: int, last_index: int) -> None:
    """The counters every clean record moves: samples seen and kept, the last index, the tracker's records."""
    c = fast.checker
    c.total += records
    c.kept += records
    if last_index > c.max_index:
        c.max_index = last_index
    fast.tracker.records += records


def _text_limits(checker):
    """(placeholder regex, the character every placeholder starts with, cutoff_len in characters) for take().
    The regex is None when some placeholder is empty: then every record goes the full way. The lead character
    ("<") lets a text without it skip the regex (found by memchr); "" (in every text) when they start apart."""
    placeholders = [p for _, _, p in checker.placeholders]
    regex = lead = None
    if all(placeholders):
        regex = re.compile("|".join(re.escape(p) for p in placeholders))
        leads = {p[0] for p in placeholders}
        lead = leads.pop() if len(leads) == 1 else ""
    budget = CHARS_PER_TOKEN * checker.cutoff_len if checker.cutoff_len else None
    return regex, lead, budget


def _strings_ok(fast, value, keys, fields, pending) -> int:
    """Fields the converter reads as text: each None or a string the tracker knows as one (and, for tools, one
    the tools rule found fine). Returns the length of the system and tools text, or -1."""
    extra_chars = 0
    for key in keys:
        if key in pending:  # the full pipeline notes the field's first appearance
            return -1
        text = value[key]
        if text is None:
            continue
        if type(text) is not str:
            return -1
        if fields is not None:
            node = fields.get(key)
            if node is None or "string" not in node.kinds:
                return -1
        if text and key in fast.extra_cols:
            # non-empty tools: only a text the tools rule has already judged fine (its cache says None)
            if key == fast.tools_col and fast.checker._tools_cache.get(text, 0) is not None:
                return -1
            extra_chars += len(text)
    return extra_chars


def _extras_ok(value, keys, fields, raw) -> bool:
    """Any other field: only a scalar of a type the tracker already knows for the field."""
    for key in keys:
        extra = value[key]
        if extra is None:
            continue
        kind = _SCALAR_KIND.get(type(extra))
        if kind is None:
            return False
        if fields is not None:
            node = fields.get(key)
            if node is None or kind not in node.kinds:
                return False
        if kind == "number" and raw is not None and _LONG_DIGITS.search(raw):  # DF022 in array files
            return False
    return True


def _plain_sft(entry, checker, formatting: str, text_columns: tuple) -> bool:
    """An sft dataset of this formatting without ranking, KTO or media, whose text columns are distinct names."""
    if checker is None or entry.formatting != formatting or entry.ranking or checker.stage != "sft":
        return False
    cols = entry.columns
    if cols.get("kto_tag") or any(cols.get(k) for k in ("images", "videos", "audios")):
        return False
    fields = [cols.get(k) for k in text_columns if cols.get(k)]
    return len(set(fields)) == len(fields) and all(isinstance(f, str) for f in fields)


def for_scan(entry, checker, tracker):
    """The fast path for this dataset's records, or None when they always need the full pipeline."""
    chat = CleanChat.for_scan(entry, checker, tracker)
    if chat is not None:
        return chat
    if not entry.columns.get("response") or not _plain_sft(
            entry, checker, "alpaca", ("prompt", "query", "response", "history", "system", "tools")):
        return None
    return CleanAlpaca(entry, checker, tracker)
