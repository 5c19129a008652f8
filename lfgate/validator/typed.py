"""The fast path's fastest step: a sharegpt record proven clean from its bytes by a typed decoder.

``CleanChat.take`` (fastpath.py) proves a record clean from the dict orjson made of it; most of its cost is
Python walking the messages. msgspec decodes the same bytes straight into typed structs and checks in C what
``take`` checks in Python: the record is an object with the messages field and no field but the known text fields;
each message an object with exactly the role and content fields, both strings. What is left for Python is small:
the role order, what the rules declared they may flag (``fastpath.declared_refusals``) and the count of quotes (a
key given twice).

``TypedChat.take(view, data, start, end)`` gives the same answer as ``CleanChat.take`` on ``orjson.loads`` of the
same bytes, or 0 when it cannot tell; the caller then takes the orjson path, which is exact. The structs are built
from what the full pipeline has already noted (``known_present``, ``known_strings``): a field it has not noted is
not in the struct, so a record holding it goes the orjson way. Those sets only grow, so a decoder built earlier is
never wrong, only stricter; ``refresh`` rebuilds it when they have grown. ``tests/test_fastpath.py`` checks the two
answers agree on generated records. Without msgspec there is no typed step: ``for_chat`` gives None.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, List, Optional, Union

from lfgate.tokens.budget import extra_tokens
from lfgate.validator.fastpath import LONG_DIGITS

_MAX_BUILDS = 8  # the known fields only grow: a few rebuilds at most
_TRIAL = 256  # records tried before the decoder judges whether it pays
_ROLE, _CONTENT = attrgetter("role"), attrgetter("content")


class TypedChat:
    """A typed decoder in front of ``CleanChat.take``; build with ``for_chat``. ``take`` is a closure, rebuilt
    with the decoder; ``enabled`` turns False when most records do not fit the structs."""

    def __init__(self, fast, msgspec):
        self.fast, self.msgspec = fast, msgspec
        self.built_for = None
        self.builds = 0
        self.enabled = True
        self.take = self._first

    def _first(self, view, data: bytes, start: int, end: int) -> int:
        if not self.fast.primed:
            return 0
        self.refresh()
        return self.take(view, data, start, end) if self.enabled else 0

    def _noted(self) -> tuple:
        """What the structs are built from: the text fields noted, and the other fields with the types noted."""
        fast = self.fast
        fields = fast.tracker.root.fields if fast.tracker.track_types else {}
        return (len(fast.known_present), len(fast.known_strings),
                tuple((name, len(node.kinds)) for name, node in fields.items()))

    def refresh(self) -> None:
        """Rebuild the decoder when the full pipeline has noted more fields since it was built."""
        if not self.fast.primed:
            return
        noted = self._noted()
        if self.built_for == noted:
            return
        if self.builds >= _MAX_BUILDS:
            self.enabled = False
            return
        self.builds += 1
        self.built_for = noted
        self.take = self._make_take(*self._structs())

    def _structs(self):
        """The decoder for records of the fields noted so far; (getter, is-tools) per text field in it; a getter
        per other field in it."""
        fast, ms = self.fast, self.msgspec
        # an empty content a rule declared it may flag (registry.Refusal.empty) is refused in C, while decoding
        content = Annotated[str, ms.Meta(min_length=1)] if fast.refusals.empty else str
        message = ms.defstruct("Message", [("role", str), ("content", content)],
                               rename={"role": fast.role_tag, "content": fast.content_tag}, forbid_unknown_fields=True)
        fields, rename, columns = [("messages", List[message])], {"messages": fast.messages_col}, []
        for i, column in enumerate(fast.string_cols):
            if column not in fast.known_present:  # its first appearance is the full pipeline's to note
                continue
            kind = Union[str, None, ms.UnsetType] if column in fast.known_strings else Union[None, ms.UnsetType]
            fields.append((f"text{i}", kind, ms.UNSET))
            rename[f"text{i}"] = column
            columns.append((attrgetter(f"text{i}"), column == fast.tools_col))
        others = []
        known = fast.tracker.root.fields if fast.tracker.track_types else {}
        for i, (name, node) in enumerate(known.items()):
            if name == fast.messages_col or name in fast.string_cols or name in fast.reserved:
                continue
            # a scalar of a type the tracker knows for the field, or null (msgspec and orjson accept the same numbers)
            kinds = sum((kind for noted, kind in (("string", (str,)), ("number", (int, float)), ("boolean", (bool,)))
                         if noted in node.kinds), ())
            if kinds:
                fields.append((f"other{i}", Union[kinds + (None, ms.UnsetType)], ms.UNSET))
                rename[f"other{i}"] = name
                others.append(attrgetter(f"other{i}"))
        record = ms.defstruct("Record", fields, rename=rename, forbid_unknown_fields=True)
        return ms.json.Decoder(record).decode, tuple(columns), tuple(others)

    def _make_take(self, decode, columns, others):
        fast, unset = self.fast, self.msgspec.UNSET
        expected_of, roles_for = fast.expected, fast.roles_for
        tools_fine = fast.tools_fine
        _, _, blank, refused, gated = fast.refusals
        isspace = str.isspace
        long_digits = LONG_DIGITS.search
        # msgspec's errors are not ValueErrors in older releases (0.18); invalid UTF-8 raises UnicodeDecodeError
        errors = (self.msgspec.MsgspecError, ValueError)
        tries = misses = 0

        def take(view, data: bytes, start: int, end: int) -> int:
            """The messages of the record ``data[start:end]`` (``view``: the same bytes) when the full pipeline
            would find nothing in it, else 0; the same answer as CleanChat.take."""
            nonlocal tries, misses
            tries += 1
            try:
                record = decode(view)
            except errors:  # not JSON, or not of the structs' shape: the orjson path says what it is
                misses += 1
                if tries >= _TRIAL and misses * 2 > tries:
                    self.enabled = False  # most records here have another shape: stop paying for the attempt
                return 0
            conv = record.messages
            n = len(conv)
            expected = expected_of.get(n) or roles_for(n)
            if expected is None or list(map(_ROLE, conv)) != expected:
                return 0
            keys, strings, extra = 1, 0, 0
            for get, is_tools in columns:
                text = get(record)
                if text is unset:
                    continue
                keys += 1
                if text is None:
                    continue
                strings += 1
                if text:
                    if is_tools and not tools_fine(text):
                        return 0
                    extra += extra_tokens(text, is_tools)
            for get in others:
                value = get(record)
                if value is not unset:
                    keys += 1
                    kind = type(value)
                    if kind is str:
                        strings += 1
                    elif (kind is int or kind is float) and long_digits(data, start, end):
                        return 0  # as CleanChat.take: a run of 19+ digits goes the full way (DF022)
            if refused is not None or blank:
                texts = list(map(_CONTENT, conv))
                if blank and any(map(isspace, texts)) or refused is not None and refused(texts):
                    return 0  # a record a rule declared it may flag
                joined = "\0".join(texts)
            else:
                joined = "\0".join(map(_CONTENT, conv))
            if gated is not None and gated(joined, n, extra):
                return 0
            # as in CleanChat.take: as many quotes as the parsed record explains -> no key given twice
            if data.count(b'"', start, end) == 2 * (keys + strings) + 8 * n:
                return n
            return 0 if data.count(b'":', start, end) > keys + 2 * n else n

        return take


def preload() -> None:
    """Import msgspec now (in a process about to fork its workers, which then share it)."""
    try:
        import msgspec  # noqa: F401
    except ImportError:
        pass


def for_chat(fast) -> Optional[TypedChat]:
    """A typed step for this CleanChat, or None (no msgspec, or a dataset whose records all go the full way)."""
    if fast is None or fast.refusals.always:
        return None
    try:
        import msgspec
    except ImportError:
        return None
    return TypedChat(fast, msgspec)
