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
from typing import Callable, Dict, NamedTuple, Optional

from lfgate.tokens.budget import extra_tokens
from lfgate.validator.converter import ASSISTANT, USER
from lfgate.validator.samples.common import ColumnsSeen, unread_default_fields
from lfgate.validator.samples.sharegpt import RoleCensus
from lfgate.validator.samples.tools import ToolsJudged

_SCALAR_KIND = {str: "string", int: "number", float: "number", bool: "boolean"}
_MAX_SHAPES = 64  # distinct key orders remembered per scan
LONG_DIGITS = re.compile(rb"\d{19,}")  # datafile.big_integer's trigger


class _Clean:
    """What both fast paths share: the shapes of records seen (one per order of top-level keys), the fields the
    full pipeline has already noted, the text limits, and ``take`` built as a closure over its constants (it
    runs once per record: every attribute lookup saved is a few percent of what a record costs)."""

    def __init__(self, entry, checker, tracker, string_cols: tuple, extra_cols: tuple):
        self.checker, self.tracker = checker, tracker
        self.columns = checker.state(ColumnsSeen)  # the fields the full pipeline has seen in some record
        tools = checker.state(ToolsJudged)
        self.tools_fine = tools.known_fine if tools is not None else _no
        self.tools_col = entry.columns.get("tools") or None
        self.string_cols = string_cols  # fields the converter reads as text: None, or a string
        self.extra_cols = extra_cols  # ... of which those added to the prompt (system, tools): they count for cutoff
        self.refusals = declared_refusals(checker)
        self.shapes: Dict[tuple, object] = {}
        # fields the full pipeline has noted (first appearance; as a string; as a list): only ever become true
        self.known_present: set = set()
        self.known_strings: set = set()
        self.known_lists: set = set()
        self.take = _never if self.refusals.always else self._make_take()

    def _remember(self, keys: tuple, shape):
        if len(self.shapes) < _MAX_SHAPES:
            self.shapes[keys] = shape
        return shape

    def _learn(self, key, known: set, kind: Optional[str] = None) -> bool:
        """Whether the full pipeline has noted this field's first appearance and, with ``kind``, the tracker knows
        it as that type. Both only ever become true, so a yes is kept in ``known``."""
        if not self.columns.seen(key):
            return False
        if kind is not None and self.tracker.track_types:
            node = self.tracker.root.fields.get(key)
            if node is None or kind not in node.kinds:
                return False
        known.add(key)
        return True

    def _strings_ok(self, value, keys) -> int:
        """Fields the converter reads as text: each None or a string the tracker knows as one (and, for tools, one
        the tools rule found fine). Returns what the system and tools texts add at most (budget.extra_tokens), or
        -1."""
        extra = 0
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
                tools = key == self.tools_col
                if tools and not self.tools_fine(text):
                    return -1
                extra += extra_tokens(text, tools)
        return extra

    def _extras_ok(self, value, keys, raw, start, end) -> bool:
        fields = self.tracker.root.fields if self.tracker.track_types else None
        return _extras_ok(value, keys, fields, raw, start, end)

    def _make_take(self):
        raise NotImplementedError


def _never(value, raw, start=0, end=None) -> int:
    return 0


def _no(*args) -> bool:
    return False


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
        self.census = checker.state(RoleCensus)
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
        t = self.tracker
        if not (self.census.settled(self.user_tag, self.assistant_tag) and self.columns.seen(self.messages_col)
                and self.columns.system_read):
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
        strings_ok, extras_ok, ready = self._strings_ok, self._extras_ok, self._ready
        _, empty, blank, refused, gated = self.refusals
        isspace = str.isspace

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
            extra = strings_ok(value, strings) if strings else 0
            if extra < 0 or extras and not extras_ok(value, extras, raw, start, end):
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
            if empty and not all(texts) or blank and any(map(isspace, texts)) or \
                    refused is not None and refused(texts) or gated is not None and gated(joined, n, extra):
                return 0  # a record a rule declared it may flag
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
            self.census.credit(self.user_tag, messages // 2)
            self.census.credit(self.assistant_tag, messages // 2)


class CleanAlpaca(_Clean):
    """The fast path for alpaca sft records: instruction and/or input, a non-empty output, string system and
    tools, an absent or empty history, other fields scalar."""

    def __init__(self, entry, checker, tracker):
        cols = entry.columns
        self.prompt_col, self.query_col = cols.get("prompt") or None, cols.get("query") or None
        self.response_col, self.history_col = cols.get("response"), cols.get("history") or None
        extra = tuple(c for c in (cols.get("system"), cols.get("tools") or None) if c)  # added to the first turn
        strings = tuple(c for c in (self.prompt_col, self.query_col, self.response_col) if c) + extra
        named = {v for v in cols.values() if v} | set(unread_default_fields(entry))
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
        strings_ok, extras_ok, learn = self._strings_ok, self._extras_ok, self._learn
        known_present, known_lists = self.known_present, self.known_lists
        _, empty, blank, refused, gated = self.refusals

        def take(value, raw, start=0, end=None):
            """2 (the messages) when the full pipeline would find nothing in this record; else 0."""
            if type(value) is not dict:
                return 0
            keys = tuple(value)
            shape = shapes.get(keys) or make_shape(keys)  # a shape the full pipeline needs is False
            if not shape:
                return 0
            strings, extras, history = shape
            extra = strings_ok(value, strings) if strings else 0
            if extra < 0 or extras and not extras_ok(value, extras, raw, start, end):
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
            if answer is None:  # no response: the full pipeline says what the stage does with the sample
                return 0
            texts = (user or "", answer)
            if empty and not (user and answer) or blank and (answer.isspace() or texts[0].isspace()) or \
                    refused is not None and refused(texts) or \
                    gated is not None and gated(texts[0] + "\0" + answer, 2, extra):
                return 0  # a record a rule declared it may flag
            if raw is None or raw.count(b'"', start, end) == _top_quotes(value, strings, extras):
                return 2  # no key given twice, no escaped quote: see CleanChat
            return 0 if raw.count(b'":', start, end) > len(value) else 2

        return take

    def credit(self, records: int, messages: int, last_index: int) -> None:
        if records:
            _credit(self, records, last_index)


class Refusals(NamedTuple):
    """What the sample rules declared they may flag, compiled for one dataset (``declared_refusals``)."""

    always: bool  # every record goes the full way
    empty: bool  # a record with an empty message text
    blank: bool  # a record with a message text that is only white space (str.isspace, in C: no call per record)
    texts: Optional[Callable]  # texts -> whether some rule may flag the record
    gate: Optional[Callable]  # (texts joined with NULs, their number, system + tools characters) -> the same


def declared_refusals(checker) -> Refusals:
    """Read from the registry (``rule(..., refuses_texts=predicate)``, ``refuses=Refusal(...)`` or a builder of one
    for the dataset), so a rule teaches both fast paths by its declaration alone; the fast paths themselves only
    know the converter's shapes (roles that alternate, field types). Declared patterns and budgets are fused into one
    test over the joined texts; an empty text is tested in C (``all``; the typed step's structs)."""
    from lfgate.registry import RULES, Refusal

    texts: dict = {}
    built: dict = {}
    for declared in RULES.values():
        if declared.refuses_texts is not None:
            texts.setdefault(declared.refuses_texts, None)  # rules sharing one predicate: called once
        refuses = declared.refuses
        if refuses is not None and refuses not in built:
            built[refuses] = refuses if isinstance(refuses, Refusal) else refuses(checker)
    found = [r for r in built.values() if r is not None]
    if any(r.always for r in found):
        return Refusals(True, False, False, None, None)
    patterns = [r for r in found if r.pattern is not None]
    pattern = re.compile("|".join(r.pattern.pattern for r in patterns)) if patterns else None
    leads = {r.lead for r in patterns}
    lead = leads.pop() if len(leads) == 1 else ""
    budgets = [r.budget for r in found if r.budget is not None]
    return Refusals(False, any(r.empty for r in found), any(r.blank for r in found), _any_of(tuple(texts)),
                    text_gate(pattern, lead, budgets))


def _any_of(predicates: tuple):
    """One predicate over the texts that holds when any of ``predicates`` does; None when there are none."""
    if len(predicates) <= 1:
        return predicates[0] if predicates else None

    def any_holds(texts) -> bool:
        for predicate in predicates:
            if predicate(texts):
                return True
        return False

    return any_holds


def text_gate(pattern, lead: str, budgets):
    """The declared patterns and cutoff_len budgets as one test over a record's texts joined with NULs (both fast
    paths call it): whether the pattern finds something (only searched when the ``lead`` character is there, found
    by memchr), or the texts may exceed a budget (tokens/budget.py Budget: sound for the count lfgate reports);
    None when nothing was declared."""
    if pattern is None and not budgets:
        return None
    if pattern is None and len(budgets) == 1:
        return budgets[0].within  # one call per record fewer
    search = pattern.search if pattern is not None else None

    def refused(joined: str, n: int, extra: int) -> bool:
        if search is not None and lead in joined and search(joined):
            return True
        for budget in budgets:
            if not budget.within(joined, n, extra):
                return True
        return False

    return refused


def _credit(fast, records: int, last_index: int) -> None:
    """The counters every clean record moves: samples seen and kept, the last index, the tracker's records."""
    c = fast.checker
    c.total += records
    c.kept += records
    if last_index > c.max_index:
        c.max_index = last_index
    fast.tracker.records += records


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
