"""A safe YAML reader with positions, resolving scalars as LLaMA-Factory's loader (OmegaConf) does.

LLaMA-Factory reads a training YAML with ``OmegaConf.load``: PyYAML's SafeLoader plus two changes, which this
reader copies (observed with omegaconf 2.3):

- floats follow YAML 1.2: ``1e-4`` and ``2e-5`` are floats (plain PyYAML keeps them as strings);
- timestamps are not resolved: ``2024-01-01`` stays a string.

Everything else is YAML 1.1 as in SafeLoader: ``yes``/``on``/``no``/``off`` are booleans, ``0x10`` is 16,
``1:30`` is 90. OmegaConf also *rejects* what this reader reports as problems: duplicate keys, several
documents, unknown tags (``!!python/...``), unhashable keys, and malformed ``${...}`` interpolations.

The reader composes the node tree (no Python object is ever built from a tag), converts it with a node budget
(an alias bomb stops at ``max_nodes``), and records the line/column of every key and value, by key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import yaml

from lfgate.readers import guarded

Path = Tuple[Any, ...]

MAX_NODES = 200_000  # values produced while expanding aliases; far above any real config
MAX_BYTES = 16 * 1024 * 1024  # a training YAML is a few KB; refuse to compose anything huge
MAX_DEPTH = 200  # nesting levels; a config nests two or three

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    _STR, "tag:yaml.org,2002:binary",
}
_CONTAINER_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

# OmegaConf's float resolver (omegaconf/_utils.py get_yaml_loader), YAML 1.2 style.
_OMEGACONF_FLOAT = re.compile(
    r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _OmegaConfLikeLoader(yaml.SafeLoader):
    """SafeLoader with OmegaConf's resolvers; used only to compose nodes and construct plain scalars."""


_OmegaConfLikeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _OMEGACONF_FLOAT, list("-+0123456789."))
_OmegaConfLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _OmegaConfLikeLoader.yaml_implicit_resolvers.items()
}

# libyaml's parser with the same resolvers, where PyYAML has it: about five times faster, for telling what a YAML
# is. A config is then read with the pure-Python loader above, which is the one OmegaConf uses.
_FastLoader: Any = None
if hasattr(yaml, "CSafeLoader"):
    class _CLoader(yaml.CSafeLoader):
        pass

    _CLoader.yaml_implicit_resolvers = dict(_OmegaConfLikeLoader.yaml_implicit_resolvers)
    _FastLoader = _CLoader


@dataclass(frozen=True)
class Problem:
    """Something LLaMA-Factory's loader would reject or silently change. kind is a stable word the rules map."""

    kind: str  # syntax, duplicate-key, multi-document, tag, alias-limit, recursive-alias, bad-key, interpolation,
    #            too-large, not-a-mapping, huge-number
    message: str
    line: Optional[int] = None
    column: Optional[int] = None


@dataclass
class YamlDocument:
    value: Any = None  # the document as OmegaConf.to_container would give it (None if unreadable)
    key_positions: Dict[Path, Tuple[int, int]] = field(default_factory=dict)  # 1-based (line, column) of keys
    value_positions: Dict[Path, Tuple[int, int]] = field(default_factory=dict)
    problems: List[Problem] = field(default_factory=list)
    readable: bool = True

    def position(self, *path: Any) -> Tuple[Optional[int], Optional[int]]:
        """Where the key at path is written, else its value, else (None, None)."""
        return self.key_positions.get(path) or self.value_positions.get(path) or (None, None)


def _mark(node_or_mark: Any) -> Tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1, mark.column + 1


def load_text(text: str, fast: bool = False) -> YamlDocument:
    """The document, its positions and problems. fast: compose with libyaml (to tell what a YAML is; the
    converter, its budget and its positions are the same)."""
    doc = YamlDocument()
    if len(text) > MAX_BYTES:
        doc.problems.append(Problem("too-large", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB"))
        doc.readable = False
        return doc
    try:
        loader = (_FastLoader if fast and _FastLoader is not None else _OmegaConfLikeLoader)(text)
    except yaml.reader.ReaderError as err:  # the pure-Python reader refuses control characters right here
        line = text[: err.position].count("\n") + 1
        doc.problems.append(Problem("syntax", f"character {err.character!r} is not allowed in YAML", line))
        doc.readable = False
        return doc
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as err:
        kind = "multi-document" if "single document" in str(err) else "syntax"
        _add_yaml_error(doc, err, kind)
        return doc
    except yaml.YAMLError as err:
        _add_yaml_error(doc, err, "syntax")
        return doc
    except RecursionError:  # thousands of nested brackets: PyYAML's composer recurses per level
        doc.problems.append(Problem("too-large", f"values nest deeper than {MAX_DEPTH} levels"))
        doc.readable = False
        return doc
    finally:
        loader.dispose()
    if node is None:  # an empty file: OmegaConf gives {}
        doc.value = {}
        return doc
    converter = _Converter(loader, doc)
    try:
        doc.value = converter.convert(node, ())
    except _Stop:
        doc.value = None
        doc.readable = False
    return doc


def load_file(path: str, fast: bool = False, max_bytes: int = MAX_BYTES) -> YamlDocument:
    """The file read as load_text reads it; a file over max_bytes is refused before any parse."""
    try:
        with guarded.open_regular(path) as f:
            raw = f.read(max_bytes + 1)
        if len(raw) > max_bytes:
            return YamlDocument(problems=[Problem("too-large", f"the file is larger than {_size(max_bytes)}")],
                                readable=False)
    except OSError as err:
        return YamlDocument(problems=[Problem("syntax", f"cannot read the file: {err.strerror}")], readable=False)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return YamlDocument(problems=[Problem("syntax", "the file is not UTF-8 text", line)], readable=False)
    return load_text(text, fast)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


def _add_yaml_error(doc: YamlDocument, err: yaml.YAMLError, kind: str) -> None:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line, column = _mark(mark) if mark is not None else (None, None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    text = f"{context}, {problem}" if context and kind == "syntax" else problem
    doc.problems.append(Problem(kind, text, line, column))
    doc.readable = False


class _Stop(Exception):
    pass


class _Converter:
    """Node tree -> plain values, with a node budget and positions; never constructs a tagged object."""

    def __init__(self, loader: Any, doc: YamlDocument, max_nodes: int = MAX_NODES) -> None:
        self.loader = loader
        self.doc = doc
        self.budget = max_nodes
        self.active: Set[int] = set()  # ids of nodes on the current path: a cycle means a recursive alias
        self.seen: Set[int] = set()  # ids of nodes converted: a node met twice came through an alias
        self.aliased = False

    def _spend(self, node: Any) -> None:
        self.budget -= 1
        if id(node) in self.seen:
            self.aliased = True
        else:
            self.seen.add(id(node))
        if self.budget < 0:
            line, column = _mark(node)
            if self.aliased:
                self.doc.problems.append(Problem(
                    "alias-limit", f"aliases expand to more than {MAX_NODES} values (an alias bomb?)", line, column))
            else:  # a big file without aliases is no bomb
                self.doc.problems.append(Problem("too-large", f"the file holds more than {MAX_NODES} values", line,
                                                 column))
            raise _Stop

    def convert(self, node: Any, path: Optional[Path]) -> Any:
        """path=None: a merged copy, whose positions are not recorded again."""
        self._spend(node)
        if len(self.active) > MAX_DEPTH:
            line, column = _mark(node)
            self.doc.problems.append(Problem("too-large", f"values nest deeper than {MAX_DEPTH} levels", line, column))
            raise _Stop
        if id(node) in self.active:
            line, column = _mark(node)
            self.doc.problems.append(Problem("recursive-alias", "an alias refers to a value that contains it",
                                             line, column))
            raise _Stop
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if node.tag not in _CONTAINER_TAGS:
                self._bad_tag(node)
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, None if path is None else path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _bad_tag(self, node: Any) -> None:
        line, column = _mark(node)
        self.doc.problems.append(Problem(
            "tag", f"the tag {node.tag!r} is not allowed: LLaMA-Factory's loader cannot construct it", line, column))

    def _scalar(self, node: Any) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node)
            return node.value
        try:
            value = self.loader.yaml_constructors[node.tag](self.loader, node)
        except ValueError:  # an integer of over 4,300 digits (sys.get_int_max_str_digits): OmegaConf's load fails too
            line, column = _mark(node)
            self.doc.problems.append(Problem(
                "huge-number", f"a {len(node.value):,}-digit integer: Python refuses to read integers of more than "
                "4,300 digits, so LLaMA-Factory's loader (OmegaConf) fails with `Exceeds the limit (4300 digits)`",
                line, column))
            raise _Stop from None
        if isinstance(value, str) and "${" in value and not _interpolation_ok(value):
            line, column = _mark(node)
            self.doc.problems.append(Problem(
                "interpolation", f"{value!r} is not a valid OmegaConf interpolation (`${{...}}`)", line, column))
        return value

    def _mapping(self, node: Any, path: Optional[Path]) -> Dict[Any, Any]:
        result: Dict[Any, Any] = {}
        seen: Dict[Any, Any] = {}
        merged: Dict[Any, Any] = {}
        merge_mark: Optional[Tuple[int, int]] = None
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *base` (SafeLoader's merge key): explicit keys win
                merge_mark = merge_mark or _mark(key_node)
                for source in (value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]):
                    value = self.convert(source, None)  # positions stay with the anchor's own keys
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                    else:
                        line, column = _mark(source)
                        self.doc.problems.append(Problem("bad-key", "`<<` must merge a mapping", line, column))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, column = _mark(key_node)
                self.doc.problems.append(Problem("bad-key", "a key must be a plain value, not a list or mapping",
                                                 line, column))
                continue
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                key = key_node.value
            line, column = _mark(key_node)
            if key in seen:
                first_line = seen[key][0]
                self.doc.problems.append(Problem(
                    "duplicate-key", f"`{key}` is given twice (first at line {first_line})", line, column))
            else:
                seen[key] = (line, column)
            child = None if path is None else path + (key,)
            if child is not None:
                self.doc.key_positions.setdefault(child, (line, column))
                self.doc.value_positions.setdefault(child, _mark(value_node))
            result[key] = self.convert(value_node, child)
        for k, v in merged.items():
            # a merged key is found at its `<<:` line (merge_mark is set whenever merged holds a key)
            if k not in result and path is not None and merge_mark is not None:
                self.doc.key_positions.setdefault(path + (k,), merge_mark)
                self.doc.value_positions.setdefault(path + (k,), merge_mark)
            result.setdefault(k, v)
        return result


def _interpolation_ok(text: str) -> bool:
    """OmegaConf parses `${...}` when the config is created; unbalanced braces raise GrammarParseError."""
    depth = 0
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}" and depth:
            depth -= 1
        i += 1
    return depth == 0


def parse_scalar(text: str) -> Any:
    """One command-line value, as OmegaConf.from_cli reads it (YAML with the same resolvers); '' is None."""
    if text == "":
        return None
    doc = load_text(text)
    if not doc.readable or doc.problems:
        return text
    return doc.value
