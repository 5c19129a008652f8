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

from lfgate.tokens.budget import fast_budget
from lfgate.validator.converter import ASSISTANT, USER

_SCALAR_KIND = {str: "string", int: "number", float: "number", bool: "boolean"}
_MAX_SHAPES = 64  # distinct key orders remembered per scan
LONG_DIGITS = re.compile(rb"\d{19,}")  # datafile.big_integer's trigger


class _Clean:
    """What both fast paths share: the shapes of records seen (one per order of top-level keys), the fields the
    full pipeline has already noted, the text limits, and ``take`` built as a closure over its constants (it
    runs once per record: every attribute lookup saved is a few percent of what a record costs)."""

    def __init__(self, entry, checker, tracker, string_cols: tuple, extra_cols: tuple):
        self.checker, self.tracker = checker, tracker
        self.tools_col = entry.columns.get("tools") or None
        self.string_cols = string_cols  # fields the converter reads as text: None, or a string
        self.extra_cols = extra_cols  # ... of which those added to the prompt (system, tools): they count for cutoff
        self.placeholder, self.lead, self.cutoff_budget = _text_limits(checker)
        self.refusals = text_refusals()
        self.shapes: Dict[tuple, object] = {}
        # fields the full pipeline has noted (first appearance; as a string; as a list): only ever become true
        self.known_present: set = set()
        self.known_strings: set = set()
        self.known_lists: set = set()
        self.take = self._make_take() if self.placeholder is not None else _never

    def _remember(self, keys: tuple, shape):
        if len(self.shapes) < _MAX_SHAPES:
            self.shapes[keys] = shape
        return shape

    def _learn(self, key, known: set, kind: Optional[str] = None) -> bool:
        """Whether the full pipeline has noted this field's first appearance and, with ``kind``, the tracker knows
        it as that type. Both only ever become true, so a yes is kept in ``known``."""
        if key in self.checker.pending_columns:
            return False
        if kind is not None and self.tracker.track_types:
            node = self.tracker.root.fields.get(key)
            if node is None or kind not in node.kinds:
                return False
        known.add(key)
        return True

    def _strings_ok(self, value, keys) -> int:
        """Fields the converter reads as text: each None or a string the tracker knows as one (and, for tools, one
        the tools rule found fine). Returns the length of the system and tools text, or -1."""
        extra_chars = 0
        for key in keys:
            if key not in self.known_present and not self._learn(key, self.known_present):
                return -1
            text = value[key]
            if text is None:
                continue
            if type(text) is not str or key not in self.known_strings and not self._learn(
                    key, self.known_strings, "string"):
                return -1
            if text and key in self.extra_cols:
                # non-empty tools: only a text the tools rule has already judged fine (its cache says None)
                if key == self.tools_col and self.checker._tools_cache.get(text, 0) is not None:
                    return -1
                extra_chars += len(text)
        return extra_chars

    def _extras_ok(self, value, keys, raw, start, end) -> bool:
        fields = self.tracker.root.fields if self.tracker.track_types else None
        return _extras_ok(value, keys, fields, raw, start, end)

    def _make_take(self):
        raise NotImplementedError


def _never(value, raw, start=0, end=None) -> int:
    return 0


def _top_quotes(value, strings, extras) -> int:
    """The quotes a record's top level holds in its bytes: two per key and per string value, when the nested values
    are lists or objects whose quotes the caller counts, or null."""
    quotes = 2 * len(value)
    for key in strings:
        if value[key] is not None:
            quotes += 2
    for key in extras:
        if type(value[key]) is str:
            quotes += 2
    return quotes


class CleanChat(_Clean):
    """The fast path for sharegpt sft records. Build with ``for_scan``; ``take(value, raw, start, end)``: the
    number of messages, or 0."""

    def __init__(self, entry, checker, tracker):
        tags, cols = entry.tags, entry.columns
        extra = tuple(c for c in (cols.get("system"), cols.get("tools") or None) if c)
        self.messages_col = cols.get("messages")
        self.role_tag, self.content_tag = tags.get("role_tag"), tags.get("content_tag")
        self.role_of, self.content_of = itemgetter(self.role_tag), itemgetter(self.content_tag)
        self.user_tag, self.assistant_tag = tags.get("user_tag"), tags.get("assistant_tag")
        named = {v for v in cols.values() if v}
        self.reserved = named - {self.messages_col, *extra}  # fields the converter reads otherwise
        self.expected: Dict[int, list] = {}
        self.primed = False
        super().__init__(entry, checker, tracker, extra, extra)

    @classmethod
    def for_scan(cls, entry, checker, tracker) -> Optional[CleanChat]:
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
        """For one order of top-level keys: (string fields present, other fields), or False when records with
        these keys need the full pipeline (no messages field, or a field the converter reads otherwise)."""
        if self.messages_col not in keys or any(key in self.reserved for key in keys):
            return self._remember(keys, False)
        strings = tuple(key for key in keys if key in self.string_cols)
        extras = tuple(key for key in keys if key != self.messages_col and key not in self.string_cols)
        return self._remember(keys, (strings, extras))

    def roles_for(self, n: int) -> Optional[list]:
        """The roles of an ordinary conversation of n messages (kept in ``expected``), or None: odd, empty, or
        longer than 4096 messages."""
        if n < 2 or n % 2 or n > 4096:
            return None
        expected = self.expected[n] = [self.user_tag, self.assistant_tag] * (n // 2)
        return expected

    def _make_take(self):
        shapes, make_shape, expected_of, roles_for = self.shapes, self._shape, self.expected, self.roles_for
        role_of, content_of, messages_col = self.role_of, self.content_of, self.messages_col
        text_ok = text_gate(self.lead, self.placeholder, self.cutoff_budget)
        strings_ok, extras_ok, ready = self._strings_ok, self._extras_ok, self._ready
        refused = refuser(self.refusals)

        def take(value, raw, start=0, end=None):
            """The number of messages when the full pipeline would find nothing in this record (``raw[start:end]``
            its bytes, or None) and change only the counters ``credit`` adds; else 0. Changes no state but caches."""
            if type(value) is not dict or not (self.primed or ready()):
                return 0
            keys = tuple(value)
            shape = shapes.get(keys) or make_shape(keys)  # a shape the full pipeline needs is False
            if not shape:
                return 0
            strings, extras = shape
            extra_chars = strings_ok(value, strings) if strings else 0
            if extra_chars < 0 or extras and not extras_ok(value, extras, raw, start, end):
                return 0
            conv = value[messages_col]
            if type(conv) is not list:
                return 0
            n = len(conv)
            expected = expected_of.get(n) or roles_for(n)
            if expected is None:
                return 0
            try:
                if list(map(role_of, conv)) != expected:
                    return 0
                texts = list(map(content_of, conv))
                joined = "\0".join(texts)  # TypeError unless every content is a string
            except (TypeError, KeyError):
                return 0
            if not all(texts) or refused and refused(texts):  # an empty content, or one a rule declared
                return 0
            if not text_ok(joined, n, extra_chars):
                return 0
            # Each message holds two string keys with string values (checked above): 8 quotes. When the bytes hold
            # no more quotes than the parsed record explains, no message has a third key, no key is given twice and
            # no string holds an escaped quote (each adds quotes): the common case, settled by one count.
            if raw is not None and raw.count(b'"', start, end) == _top_quotes(value, strings, extras) + 8 * n:
                return n
            keys = len(value) + sum(map(len, conv))
            if keys != len(value) + 2 * n:  # a message with another key
                return 0
            # the type tracker flags a possible repeated key when the bytes hold more `":` than the keys parsed
            return 0 if raw is not None and raw.count(b'":', start, end) > keys else n

        return take

    def credit(self, records: int, messages: int, last_index: int) -> None:
        """Add what ``records`` clean records (``messages`` messages in all) do to the checker and tracker."""
        if records:
            _credit(self, records, last_index)
            counts = self.checker.roles.counts
            counts[self.user_tag] += messages // 2
            counts[self.assistant_tag] += messages // 2


class CleanAlpaca(_Clean):
    """The fast path for alpaca sft records: instruction and/or input, a non-empty output, string system and
    tools, an absent or empty history, other fields scalar."""

    def __init__(self, entry, checker, tracker):
        cols = entry.columns
        self.prompt_col, self.query_col = cols.get("prompt") or None, cols.get("query") or None
        self.response_col, self.history_col = cols.get("response"), cols.get("history") or None
        extra = tuple(c for c in (cols.get("system"), cols.get("tools") or None) if c)  # added to the first turn
        strings = tuple(c for c in (self.prompt_col, self.query_col, self.response_col) if c) + extra
        named = {v for v in cols.values() if v} | set(checker.unread_fields)
        self.reserved = named - {*strings, self.history_col}
        super().__init__(entry, checker, tracker, strings, extra)

    def _shape(self, keys: tuple):
        """(string fields present, other fields, whether the history field is there), or False."""
        if any(key in self.reserved for key in keys):
            return self._remember(keys, False)
        strings = tuple(key for key in keys if key in self.string_cols)
        extras = tuple(key for key in keys if key not in self.string_cols and key != self.history_col)
        return self._remember(keys, (strings, extras, self.history_col in keys))

    def _make_take(self):
        shapes, make_shape = self.shapes, self._shape
        prompt_col, query_col, response_col, history_col = \
            self.prompt_col, self.query_col, self.response_col, self.history_col
        text_ok = text_gate(self.lead, self.placeholder, self.cutoff_budget)
        strings_ok, extras_ok, learn = self._strings_ok, self._extras_ok, self._learn
        known_present, known_lists = self.known_present, self.known_lists
        refused = refuser(self.refusals)

        def take(value, raw, start=0, end=None):
            """2 (the messages) when the full pipeline would find nothing in this record; else 0."""
            if type(value) is not dict:
                return 0
            keys = tuple(value)
            shape = shapes.get(keys) or make_shape(keys)  # a shape the full pipeline needs is False
            if not shape:
                return 0
            strings, extras, history = shape
            extra_chars = strings_ok(value, strings) if strings else 0
            if extra_chars < 0 or extras and not extras_ok(value, extras, raw, start, end):
                return 0
            if history:  # null or [] adds no turn; anything else goes the full way
                if history_col not in known_present and not learn(history_col, known_present):
                    return 0
                past = value[history_col]
                if past is not None:
                    if type(past) is not list or past:
                        return 0
                    if history_col not in known_lists and not learn(history_col, known_lists, "list"):
                        return 0
            prompt = value.get(prompt_col) if prompt_col else None
            query = value.get(query_col) if query_col else None
            user = prompt + "\n" + query if prompt and query else prompt or query
            answer = value.get(response_col)
            if not user or not answer:  # an empty turn, or no response: the full pipeline says what happens
                return 0
            if refused and refused((user, answer)):  # a text a rule declared it may flag
                return 0
            if not text_ok(user + "\0" + answer, 2, extra_chars):
                return 0
            if raw is None or raw.count(b'"', start, end) == _top_quotes(value, strings, extras):
                return 2  # no key given twice, no escaped quote: see CleanChat
            return 0 if raw.count(b'":', start, end) > len(value) else 2

        return take

    def credit(self, records: int, messages: int, last_index: int) -> None:
        if records:
            _credit(self, records, last_index)


def text_refusals() -> tuple:
    """The message texts the rules declared they may flag (``rule(..., refuses_text=predicate)``): a record with
    one goes the full way. Read from the registry, so a new sample rule that judges text teaches the fast paths by
    its declaration alone."""
    from lfgate.registry import RULES

    return tuple(r.refuses_text for r in RULES.values() if r.refuses_text is not None)


def refuser(refusals: tuple):
    """None when no rule declared a text refusal (the common case costs nothing), else texts -> whether any
    declared predicate holds for any of them."""
    if not refusals:
        return None

    def refused(texts) -> bool:
        return any(refuse(text) for refuse in refusals for text in texts)

    return refused


def _credit(fast, records: int, last_index: int) -> None:
    """The counters every clean record moves: samples seen and kept, the last index, the tracker's records."""
    c = fast.checker
    c.total += records
    c.kept += records
    if last_index > c.max_index:
        c.max_index = last_index
    fast.tracker.records += records


def text_gate(lead, placeholder, budget):
    """The text tests both fast paths (this module's and typed.py's) make of a record's messages joined with NULs:
    no media placeholder, and within cutoff_len by the count lfgate reports (tokens/budget.py Budget). One home, so the
    paths cannot drift apart."""

    def text_ok(joined: str, n: int, extra_chars: int) -> bool:
        if lead in joined and placeholder.search(joined):
            return False
        return budget is None or budget.within(joined, n, extra_chars)
    return text_ok


def _text_limits(checker):
    """(placeholder regex, the character every placeholder starts with, the cutoff_len Budget) for take().
    The regex is None when some placeholder is empty: then every record goes the full way. The lead character
    ("<") lets a text without it skip the regex (found by memchr); "" (in every text) when they start apart."""
    placeholders = [p for _, _, p in checker.placeholders]
    regex = lead = None
    if all(placeholders):
        regex = re.compile("|".join(re.escape(p) for p in placeholders))
        leads = {p[0] for p in placeholders}
        lead = leads.pop() if len(leads) == 1 else ""
    budget = fast_budget(checker)
    return regex, lead, budget


def _extras_ok(value, keys, fields, raw, start=0, end=None) -> bool:
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
        if kind == "number" and raw is not None and \
                LONG_DIGITS.search(raw, start, len(raw) if end is None else end):  # DF022 in array files
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
