"""The Arrow table LLaMA-Factory's `datasets.load_dataset` builds from all records: one type per field path.

``TypeTracker.observe`` visits every record once (per worker process); ``merge`` joins the workers' trackers in
file order; ``defects`` lists what Arrow will refuse (a field whose type changes, a column a later file adds, a
record nested too deep). validator/datafile.py turns them into DF findings.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from lfgate.readers.records import Record

_KIND = {str: "string", int: "number", float: "number", bool: "boolean", list: "list", dict: "object"}
# Arrow refuses deeper schemas ("Recursion level in ArrowSchema struct exceeded"), counting the record itself as
# level 1: observed with LLaMA-Factory 0.9.5 / pyarrow, 63 levels load and 64 fail, JSON and JSON Lines alike.
ARROW_MAX_NESTING = 63


class Field:
    """One field path in a trie: the first record seen for each JSON type, then its fields / list items."""

    __slots__ = ("kinds", "fields", "item", "depth")

    def __init__(self, depth: int = 0):
        self.kinds: Dict[str, tuple] = {}  # kind -> (index, file, line, column, raw)
        self.fields: Dict[str, Field] = {}
        self.item: Optional[Field] = None
        self.depth = depth

    def merge(self, other: Field) -> None:
        for kind, ref in other.kinds.items():
            if kind not in self.kinds or ref[0] < self.kinds[kind][0]:
                self.kinds[kind] = ref
        for key, theirs in other.fields.items():
            mine = self.fields.get(key)
            if mine is None:
                self.fields[key] = theirs
            else:
                mine.merge(theirs)
        if other.item is not None:
            if self.item is None:
                self.item = other.item
            else:
                self.item.merge(other.item)


def _quoted(value) -> int:
    """How many `":` the keys and strings of a parsed record hold (each is one in the raw bytes, escaped)."""
    quoted = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if type(obj) is dict:
            for key, child in obj.items():
                if '":' in key:
                    quoted += key.count('":')
                t = type(child)
                if t is str:
                    if '":' in child:
                        quoted += child.count('":')
                elif t is dict or t is list:
                    stack.append(child)
        else:
            for child in obj:
                t = type(child)
                if t is str:
                    if '":' in child:
                        quoted += child.count('":')
                elif t is dict or t is list:
                    stack.append(child)
    return quoted


class TypeTracker:
    """What Arrow will make of all records together: per field path (a trie, list items share one node), the
    first record of each JSON type. Picklable and mergeable, so each worker keeps its own and the main process
    merges them in file order. Memory is bounded by the number of field paths times types."""

    def __init__(self, track_types: bool = True):
        self.track_types = track_types
        self.records = 0
        self.root = Field()
        self.too_deep: Optional[tuple] = None  # the first record nesting deeper than Arrow allows

    def observe(self, record: Record) -> bool:
        """Visit every value once (this runs for every record: kept tight on purpose). Returns True when the
        record's bytes hold more `":` than its parsed keys and strings explain: a key given twice (orjson keeps
        the last), to be confirmed by duplicate_key()."""
        self.records += 1
        value = record.value
        if not self.track_types or type(value) is not dict:
            return False
        ref = None
        kind_of = _KIND.get
        keys = 0
        complete = True
        stack = [(self.root, value)]
        pop, push = stack.pop, stack.append
        while stack:
            node, obj = pop()
            if type(obj) is dict:
                fields = node.fields
                keys += len(obj)
                for key, child in obj.items():
                    if child is None:
                        continue
                    t = type(child)
                    sub = fields.get(key)
                    if sub is None:
                        sub = fields[key] = Field(node.depth + 1)
                    kind = kind_of(t) or t.__name__
                    if kind not in sub.kinds:
                        if ref is None:
                            ref = (record.index, record.file, record.line, record.column, record.raw)
                        sub.kinds[kind] = ref
                    if t is dict or t is list:
                        if sub.depth < ARROW_MAX_NESTING:
                            push((sub, child))
                        else:
                            complete = False
                            if self.too_deep is None or record.index < self.too_deep[0]:
                                self.too_deep = (record.index, record.file, record.line, record.column, record.raw)
            else:
                sub = node.item
                if sub is None:
                    sub = node.item = Field(node.depth + 1)
                kinds = sub.kinds
                deeper = sub.depth < ARROW_MAX_NESTING
                for child in obj:
                    if child is None:
                        continue
                    t = type(child)
                    kind = kind_of(t) or t.__name__
                    if kind not in kinds:
                        if ref is None:
                            ref = (record.index, record.file, record.line, record.column, record.raw)
                        kinds[kind] = ref
                    if t is dict or t is list:
                        if deeper:
                            push((sub, child))
                        else:
                            complete = False
                            if self.too_deep is None or record.index < self.too_deep[0]:
                                self.too_deep = (record.index, record.file, record.line, record.column, record.raw)
        raw = record.raw
        if not complete or raw is None:
            return False
        separators = raw.count(b'":')
        # `":` inside keys and strings only matters when the keys alone do not explain the count (rare)
        return separators > keys and separators > keys + _quoted(value)

    def merge(self, other: TypeTracker) -> None:
        self.records += other.records
        self.root.merge(other.root)
        if other.too_deep is not None and (self.too_deep is None or other.too_deep[0] < self.too_deep[0]):
            self.too_deep = other.too_deep

    def defects(self, files: List[str]) -> List[tuple]:
        """What Arrow will refuse, in the order found, each as (index of the sample that shows it, defect):
        ("drift", path, field) a field whose type changes; ("late", key, ref) a top-level field that first has a
        value after the first file; ("deep", ref) the first record nesting too deep."""
        out: List[tuple] = []
        stack: List[Tuple[tuple, Any]] = [((), self.root)]
        while stack:
            path, node = stack.pop()
            children = sorted(node.fields.items())
            if node.item is not None:
                children.append(("[]", node.item))
            for key, child in reversed(children):
                sub = path + (key,)
                if len(child.kinds) > 1:
                    out.append((min(r[0] for r in child.kinds.values()), ("drift", sub, child)))
                    continue  # fields inside one that already changes type are the same defect
                stack.append((sub, child))
        if len(files) > 1:  # the first file fixes the columns (checked against LLaMA-Factory 0.9.5/datasets 4.0)
            for key, child in sorted(self.root.fields.items()):
                ref = min(child.kinds.values(), key=lambda r: r[0]) if child.kinds else None
                if ref is not None and ref[1] != files[0]:
                    out.append((ref[0], ("late", key, ref)))
        if self.too_deep is not None:
            out.append((self.too_deep[0], ("deep", self.too_deep)))
        return out


def deep_path(value, limit: int) -> Optional[tuple]:
    """The path of the first container nested deeper than limit levels (the record is level 1)."""
    stack: List[Tuple[tuple, Any, int]] = [((), value, 1)]
    while stack:
        path, obj, level = stack.pop()
        if level > limit:
            return path
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, child in reversed(list(items)):
            if isinstance(child, (dict, list)):
                stack.append((path + (key,), child, level + 1))
    return None


def load_raw(raw: bytes):
    import orjson

    from lfgate.readers.jsonfile import _nan_fallback

    try:
        return orjson.loads(raw)
    except ValueError:
        return _nan_fallback(raw)


def concrete_path(raw: bytes, path: tuple, kind: str) -> Optional[tuple]:
    """The first concrete JSON path (list indexes filled in) matching an abstract one with a value of kind."""
    stack: List[Tuple[tuple, Any, int]] = [((), load_raw(raw), 0)]
    while stack:
        concrete, obj, depth = stack.pop()
        if depth == len(path):
            if obj is not None and (_KIND.get(type(obj)) or type(obj).__name__) == kind:
                return concrete
            continue
        step = path[depth]
        if step == "[]" and isinstance(obj, list):
            stack.extend((concrete + (i,), child, depth + 1) for i, child in reversed(list(enumerate(obj))))
        elif isinstance(obj, dict) and step in obj:
            stack.append((concrete + (step,), obj[step], depth + 1))
    return None


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += "[]" if part == "[]" else (("." if text else "") + str(part))
    return text
