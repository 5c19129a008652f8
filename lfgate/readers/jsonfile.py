"""JSON and JSON Lines datasets, streamed: frame records by byte range, then parse each with orjson.

LLaMA-Factory loads ``.json`` and ``.jsonl`` with the same ``datasets`` JSON builder, which decides by content:
JSON Lines (one object per line), or one top-level array (also accepted in a ``.jsonl``). So do we: a file
whose first non-blank byte is ``[`` is an array, anything else is read line by line.

Reading is split in two so it can run over several processes:

- **framing** (one pass, in the main process): find where each record starts and ends, and its line/column.
  For an array, a regex walks the bytes and tracks only strings and brackets, so depth-1 element boundaries are
  found without building any value; for JSON Lines, ``iter_line_blocks`` cuts blocks of whole lines, and only a
  block with a blank or indented line is split into per-record spans (a plain block's line k is its record k).
  Memory is one block plus the largest record.
- **parsing** (anywhere): ``orjson.loads`` on each record's bytes.

``frames`` yields ``Span`` (start, end, line, column, index) and ``Problem`` values; ``read_spans`` turns spans
back into ``Record``s; ``iter_json_records`` does both in one process.
"""

from __future__ import annotations

import os
import re
from typing import IO, Any, Generator, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

import orjson

from lfgate.readers import guarded
from lfgate.readers.records import Problem, Record

BLOCK = 4 << 20  # bytes read at a time while framing
BOM = b"\xef\xbb\xbf"
WHOLE_FILE_LIMIT = 64 << 20  # a top-level object is parsed whole only below this size
LAYOUT_LINE_LIMIT = 1 << 20  # _layout_end looks this far for an element's line end
MAX_LAYOUT_MISSES = 16

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[\[\]{}]', re.S)
_GAP = re.compile(rb"[^ \t\n\r,]+|,")
_BLANK = b" \t\r\n"


class Span(NamedTuple):
    start: int  # byte offsets in the file, end exclusive
    end: int
    line: int
    column: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, which nothing calls


class _Where:
    """Line/column of byte offsets met in increasing order, counted incrementally (no quadratic rescans)."""

    __slots__ = ("pos", "line", "column")

    def __init__(self, pos: int = 0, line: int = 1, column: int = 1):
        self.pos, self.line, self.column = pos, line, column

    def advance(self, buf: bytes, base: int, offset: int) -> Tuple[int, int]:
        if offset > self.pos:
            seg = buf[self.pos - base:offset - base]
            newlines = seg.count(b"\n")
            if newlines:
                self.line += newlines
                seg = seg[seg.rfind(b"\n") + 1:]
                self.column = 1
            self.column += len(seg) if seg.isascii() else len(seg.decode("utf-8", "replace"))
            self.pos = offset
        return self.line, self.column


def _first_byte(path: str) -> Tuple[bytes, bool]:
    """The first non-blank byte after an optional BOM, and whether there is a BOM."""
    with guarded.open_regular(path) as f:
        head = f.read(BLOCK)
        has_bom = head.startswith(BOM)
        if has_bom:
            head = head[3:]
        while True:
            stripped = head.lstrip(_BLANK)
            if stripped or not head:
                return stripped[:1], has_bom
            head = f.read(BLOCK)


def layout(path: str) -> str:
    """'array' or 'lines': how LLaMA-Factory's JSON builder will read this file."""
    first, _ = _first_byte(path)
    return "array" if first == b"[" else "lines"


def frames(path: str) -> Iterator[Union[Span, Problem]]:
    first, has_bom = _first_byte(path)
    if has_bom and first == b"[":  # pyarrow strips a BOM from JSON Lines; the array fallback (pandas) does not
        yield Problem("bom", "the file starts with a UTF-8 byte order mark (BOM)", path, 1, 1)
    if first == b"[":
        yield from _array_frames(path, 3 if has_bom else 0)
    elif first == b"{" and _is_one_object(path):
        # pandas (the datasets JSON builder's fallback) reads it as one row: so do we
        yield Problem("top-level", "the top level is one JSON object, which LLaMA-Factory reads as a single sample",
                      path, 1, 1)
        yield Span(3 if has_bom else 0, os.path.getsize(path), 1, 1, 0)
    else:
        yield from _line_frames(path, 3 if has_bom else 0)


def _is_one_object(path: str) -> bool:
    """True when the file is a single (multi-line) JSON object rather than JSON Lines."""
    with guarded.open_regular(path) as f:
        first_line = f.readline(WHOLE_FILE_LIMIT)
    try:
        orjson.loads(first_line.lstrip(BOM))
        return False  # the first line is a record of its own: JSON Lines
    except orjson.JSONDecodeError:
        pass
    if os.path.getsize(path) > WHOLE_FILE_LIMIT:
        return False
    with guarded.open_regular(path) as f:
        data = f.read()
    try:
        return isinstance(orjson.loads(data.lstrip(BOM)), dict)
    except orjson.JSONDecodeError:
        return False


class LineBlock(NamedTuple):
    """A stretch of whole lines of a JSON Lines file. ``spans`` is None for a *plain* block (no blank line, no
    line starting with blank space): then line k of the block is sample ``index + k`` at line ``line + k``,
    column 1, and nothing more needs to be kept. Otherwise ``spans`` lists its records as ``frames`` does.
    ``records``: how many samples the block holds (for a block cut on trust, its lines: see iter_line_blocks)."""

    start: int
    end: int
    line: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, which nothing calls
    spans: Optional[List[Span]]
    records: int = 0


_NOT_PLAIN = re.compile(rb"\n[ \t\r\n]")  # a blank line, or one that starts with blank space


def _plain(data: bytes, end: int) -> bool:
    """No blank line and no line starting with blank space in data[:end] (one C scan, no copy)."""
    return data[:1] not in (b" ", b"\t", b"\r", b"\n") and _NOT_PLAIN.search(data, 0, end) is None


def line_spans(data: bytes, offset: int, line_no: int, index: int) -> List[Span]:
    """The records of whole lines ``data`` (at file ``offset``, line ``line_no``, sample ``index``): blank lines
    skipped, blank space before a record skipped and counted in its column."""
    spans = []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for raw in lines:
        stripped = raw.lstrip(_BLANK)
        if stripped.rstrip(_BLANK):
            lead = len(raw) - len(stripped)
            spans.append(Span(offset + lead, offset + len(raw), line_no, 1 + lead, index))
            index += 1
        offset += len(raw) + 1
        line_no += 1
    return spans


def iter_line_blocks(path: str, skip: int = 0, size: int = BLOCK, with_data: bool = True,
                     trust_plain: Optional[List[bool]] = None) -> Iterator[Tuple[LineBlock, Optional[bytes]]]:
    """(block, its bytes) of about ``size`` bytes each, cut after a newline, in file order. With
    ``with_data=False`` the bytes are not kept (None): a caller that hands blocks to workers needs only the
    places, and each block is then read once here and once by its worker, never copied.

    ``trust_plain``: a one-item list, read before each block. While its item is True a block is not searched for
    blank or indented lines (a scan of every byte): it is given as plain, its ``records`` are its lines, and its
    reader must look (``datasets.feed_lines`` does, and says how many records there were). A blank line then
    shifts the samples of the later blocks, which the caller corrects; it sets the item to False to cut exactly
    from there on."""
    index, line_no, offset = 0, 1, skip
    with guarded.open_regular(path) as f:
        want, total, line_bytes = size, os.fstat(f.fileno()).st_size, 0
        while True:
            if trust_plain is not None and trust_plain[0] and not with_data and line_bytes >= _LONG_LINE:
                # long lines, cut on trust and not kept: find the newlines in place (memchr on a mapped window),
                # neither copying the block nor counting every byte in Python's slower count loop
                found = _newlines_in_place(f, offset, want, total)
                if found is None:
                    return
                cut, newlines, records = found
                if not cut:
                    want *= 2
                    continue
                want = size
                yield LineBlock(offset, offset + cut, line_no, index, None, records), None
                line_bytes = cut // max(newlines, 1)
                index += records
                line_no += newlines
                offset += cut
                continue
            f.seek(offset)
            data = f.read(want)
            if not data:
                return
            at_end = len(data) < want
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            if not cut:  # a line longer than the block: read more of it
                want *= 2
                continue
            want = size
            newlines = data.count(b"\n", 0, cut)
            if (trust_plain is not None and trust_plain[0]) or _plain(data, cut):
                records = newlines + (data[cut - 1:cut] != b"\n")
                chunk = (data if cut == len(data) else data[:cut]) if with_data else None
                yield LineBlock(offset, offset + cut, line_no, index, None, records), chunk
            else:
                chunk = data[:cut]
                spans = line_spans(chunk, offset, line_no, index)
                records = len(spans)
                yield LineBlock(offset, offset + cut, line_no, index, spans, records), chunk if with_data else None
            index += records
            line_no += newlines
            offset += cut
            line_bytes = cut // max(newlines, 1)
            if at_end:
                return


_LONG_LINE = 512  # bytes per line from which a newline-by-newline search beats counting every byte


def _newlines_in_place(f: IO[bytes], offset: int, want: int, total: int) -> Optional[Tuple[int, int, int]]:
    """(cut, newlines, lines) of the block of up to ``want`` bytes at ``offset``, cut after its last newline (or
    at the end of the file); cut 0 when no newline is in reach; None past the end."""
    import mmap

    end = min(total, offset + want)
    if end <= offset:
        return None
    base = offset - offset % mmap.ALLOCATIONGRANULARITY
    with mmap.mmap(f.fileno(), end - base, access=mmap.ACCESS_READ, offset=base) as window:
        lo, hi = offset - base, end - base
        cut = hi if offset + want > total else window.rfind(b"\n", lo, hi) + 1  # at the end: the rest
        if cut <= lo:
            return 0, 0, 0
        find, newlines, at = window.find, 0, lo
        while True:
            at = find(b"\n", at, cut) + 1
            if not at:
                break
            newlines += 1
        lines = newlines + (window[cut - 1] != 10)
    return cut - lo, newlines, lines


def line_blocks_start(path: str) -> Optional[int]:
    """Where the records of a JSON Lines file start (after a BOM), or None when LLaMA-Factory does not read the
    file as JSON Lines (an array, or one top-level object): then use ``frames``."""
    first, has_bom = _first_byte(path)
    if first == b"[" or (first == b"{" and _is_one_object(path)):
        return None
    return 3 if has_bom else 0


def _line_frames(path: str, skip: int) -> Iterator[Union[Span, Problem]]:
    for block, data in iter_line_blocks(path, skip):
        if block.spans is not None:
            yield from block.spans
        elif data is not None:  # always, with_data being on
            yield from line_spans(data, block.start, block.line, block.index)


def _array_frames(path: str, skip: int) -> Iterator[Union[Span, Problem]]:
    """Depth-1 element spans of a top-level JSON array, plus structural problems (missing commas, a trailing
    comma, text after the array, an unclosed array)."""
    with guarded.open_regular(path) as f:
        f.seek(skip)  # past a BOM
        yield from _ArrayFramer(f, path, skip).frames()


class _ArrayFramer:
    """One pass over a top-level JSON array. A regex finds strings and brackets; at depth 1 the scalars and
    commas between them are read too (``_gap``). The buffer keeps everything from the oldest offset still needed
    (the line counter, the current gap or element) and grows a block at a time."""

    def __init__(self, f: IO[bytes], path: str, skip: int) -> None:
        self.f, self.path = f, path
        self.where = _Where(skip, 1, 1)
        self.buf, self.base, self.eof = b"", skip, False  # base: the file offset of buf[0]
        self.i = 0  # scan position in buf
        self.index = 0  # the next element's index
        self.depth = 0
        self.state = "before"  # before, in, after
        self.expect = "value_or_end"  # at depth 1: value_or_end, value, comma_or_end
        self.gap_start = skip  # absolute offset where the current depth-1 gap starts
        self.elem_start: Optional[int] = None  # an element walked token by token (no layout placed it)
        self.elem_line = self.elem_col = 0
        self.misses = 0  # consecutive elements _layout_end could not place; past a few, the file has another layout

    def frames(self) -> Iterator[Union[Span, Problem]]:
        while True:
            m = _TOKENS.search(self.buf, self.i)
            incomplete = m is not None and m.group(0)[:1] == b'"' and m.group(1) is None
            if m is None or incomplete:
                stop = self.base + (m.start() if m is not None and incomplete else len(self.buf))
                if self.eof:
                    yield from self._at_end(stop, incomplete)
                    return
                self._read_more(stop)
                continue
            if self.state == "in" and self.depth >= 2:
                span = self._walk_element()
                if span is not None:
                    yield span
                continue  # the element closed, or the buffer ended inside it (read more, or the end)
            tok = m.group(0)[:1]
            self.i = m.end()
            at = self.base + m.start()
            if self.state == "before":
                if not self._opens_array(tok, m):
                    yield self._problem("the file is not a JSON array", at)
                    return
                continue
            if self.state == "after":
                yield self._problem("extra data after the end of the array", at)
                return
            yield from self._gap(at)
            stopped = yield from self._between_elements(tok, m)
            if stopped:
                return

    def _problem(self, message: str, offset: int) -> Problem:
        line, column = self.where.advance(self.buf, self.base, offset)
        return Problem("invalid-json", message, self.path, line, column)

    def _read_more(self, restart: int) -> None:
        """Drop what no offset needs any more, then read the next block; the scan restarts at ``restart``."""
        keep = min(self.where.pos, self.gap_start)
        if self.elem_start is not None:
            keep = min(keep, self.elem_start)
        if keep > self.base:
            self.buf = self.buf[keep - self.base:]
            self.base = keep
        self.i = restart - self.base
        block = self.f.read(BLOCK)
        if not block:
            self.eof = True
        self.buf += block

    def _at_end(self, at: int, incomplete: bool) -> Iterator[Union[Span, Problem]]:
        """End of file: text outside the array, or an array (or string) left open at ``at``."""
        if self.state in ("before", "after"):
            tail = self.buf[self.gap_start - self.base:]
            text = tail.lstrip(_BLANK)
            if text:
                message = "the file is not a JSON array" if self.state == "before" else \
                    "extra data after the end of the array"
                yield self._problem(message, self.gap_start + len(tail) - len(text))
            return
        if self.depth == 1:
            yield from self._gap(at)
        yield self._problem("unterminated string" if incomplete else "the array is not closed: unexpected end of "
                            "file", at)

    def _opens_array(self, tok: bytes, m: re.Match[bytes]) -> bool:
        """The first token: ``[`` with nothing but blanks before it, else the file is not an array."""
        if self.buf[self.gap_start - self.base:m.start()].strip(_BLANK) or tok != b"[":
            return False
        self.state, self.depth, self.gap_start, self.expect = "in", 1, self.base + m.end(), "value_or_end"
        return True

    def _element_done(self, end: int) -> None:
        self.index += 1
        self.expect = "comma_or_end"
        self.gap_start = end

    def _walk_element(self) -> Optional[Span]:
        """The brackets of an element no layout placed, walked with locals (a minified file's hot loop): its span
        once it closes, else None where the buffer ends (or a string is cut) inside it."""
        buf, search, depth, i = self.buf, _TOKENS.search, self.depth, self.i
        while True:
            m = search(buf, i)
            tok = m.group(0)[:1] if m is not None else b""
            if m is None or (tok == b'"' and m.group(1) is None):
                self.depth, self.i = depth, i
                return None
            i = m.end()
            if tok == b"{" or tok == b"[":
                depth += 1
            elif tok == b"}" or tok == b"]":
                depth -= 1
                if depth == 1 and self.elem_start is not None:  # set when the element opened
                    self.depth, self.i = depth, i
                    span = Span(self.elem_start, self.base + i, self.elem_line, self.elem_col, self.index)
                    self.elem_start = None
                    self._element_done(self.base + i)
                    return span

    def _gap(self, end: int) -> Iterator[Union[Span, Problem]]:
        """Scalars and commas between depth-1 tokens."""
        for m in _GAP.finditer(self.buf, self.gap_start - self.base, end - self.base):
            tok = m.group()
            at = self.base + m.start()
            if tok == b",":
                if self.expect == "comma_or_end":
                    self.expect = "value"
                else:
                    yield self._problem("unexpected ',' (an empty element or a leading comma)", at)
            elif self.expect == "comma_or_end":
                yield self._problem(f"missing ',' before {tok[:20].decode('utf-8', 'replace')!r}", at)
            else:
                line, column = self.where.advance(self.buf, self.base, at)
                yield Span(at, self.base + m.end(), line, column, self.index)
                self.index += 1
                self.expect = "comma_or_end"

    def _between_elements(self, tok: bytes, m: re.Match[bytes]) -> Generator[Union[Span, Problem], None, bool]:
        """A string or bracket at depth 1: the array's end, or an element's start. Returns True to stop."""
        at = self.base + m.start()
        if tok == b"]":
            if self.expect == "value":
                yield self._problem("trailing comma before ']'", at)
            self.state, self.depth, self.gap_start = "after", 0, self.base + m.end()
            return False
        if tok == b"}":
            yield self._problem("unexpected '}'", at)
            return True
        if self.expect == "comma_or_end":
            yield self._problem("missing ',' between elements", at)
        line, column = self.where.advance(self.buf, self.base, at)
        if tok == b'"':
            yield Span(at, self.base + m.end(), line, column, self.index)
            self._element_done(self.base + m.end())
            return False
        laid_out = _layout_end(self.buf, m.start()) if self.misses < MAX_LAYOUT_MISSES else None
        self.misses = 0 if laid_out is not None else self.misses + 1
        if laid_out is not None:  # the common layouts: found without walking the element's tokens
            yield Span(at, self.base + laid_out, line, column, self.index)
            self._element_done(self.base + laid_out)
            self.i = laid_out
            return False
        self.elem_start, self.elem_line, self.elem_col = at, line, column
        self.depth = 2
        return False


def _layout_end(buf: bytes, start: int) -> Optional[int]:
    """Where the element opening at buf[start] ends, for the two layouts nearly every array file has, or None.

    JSON strings cannot hold a raw newline, so: an element whose first line is only ``{`` (json.dump with
    indent) ends at the first later line that is its own indentation plus the closing bracket; any other element
    that ends on its own line ends at that line's last bracket. A candidate counts only if orjson parses exactly
    that slice as one value, which proves it is the element; anything else goes back to the token walk."""
    close = b"}" if buf[start:start + 1] == b"{" else b"]"
    newline = buf.find(b"\n", start, start + LAYOUT_LINE_LIMIT)
    if newline < 0:
        return None
    end = newline
    while end > start and buf[end - 1] in b" \t\r,":
        end -= 1
    if end > start + 1:
        if buf[end - 1:end] != close:
            return None
    else:
        indent = buf[buf.rfind(b"\n", 0, start) + 1:start]
        if indent.strip(b" \t"):
            return None
        found = buf.find(b"\n" + indent + close, newline)
        if found < 0:
            return None
        end = found + len(indent) + 2
    try:
        orjson.loads(memoryview(buf)[start:end])
    except orjson.JSONDecodeError:
        return None
    return end


def read_spans(path: str, spans: Iterable[Span]) -> Iterator[Tuple[Span, bytes]]:
    """Each span's bytes, reading the file forward in blocks (spans come in file order)."""
    with guarded.open_regular(path) as f:
        buf, base = b"", 0
        for span in spans:
            if not (base <= span.start and span.end <= base + len(buf)):
                if base <= span.start <= base + len(buf):
                    buf, base = buf[span.start - base:], span.start
                else:
                    f.seek(span.start)
                    buf, base = b"", span.start
                need = span.end - (base + len(buf))
                if need > 0:
                    buf += f.read(max(need, BLOCK))
            yield span, buf[span.start - base:span.end - base]


def parse(path: str, span: Span, raw: bytes) -> Iterator[Union[Record, Problem]]:
    """orjson on one record's bytes; failures become a Problem at the exact line/column. NaN/Infinity (which
    LLaMA-Factory's loaders accept) give the record plus a ``nan`` Problem."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        value = _surrogate_fallback(path, raw)
        if value is _FAILED:
            value = _nan_fallback(raw)
            if value is _FAILED:
                yield _parse_problem(path, span, raw, err)
                return
            yield Problem("nan", "NaN or Infinity: not JSON; pyarrow/pandas read it as a float or null, not text",
                          path, span.line, span.column, span.index)
    yield Record(span.index, value, path, span.line, span.column, raw)


def parse_spans(path: str, pieces: Iterable[Tuple[Span, bytes]]) -> Iterator[Union[Record, Problem]]:
    """``parse`` over (span, bytes) pairs, without a generator per record for the common well-formed record;
    a record orjson refuses goes through ``parse`` for its fallbacks and problems."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for span, raw in pieces:
        try:
            value = loads(raw)
        except decode_error:
            yield from parse(path, span, raw)
            continue
        yield Record(span.index, value, path, span.line, span.column, raw)


_FAILED = object()
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _surrogate_fallback(path: str, raw: bytes) -> Any:
    """An escaped lone surrogate ("\\ud800"): orjson refuses it, but a JSON *array* file is read by pandas' fallback
    through Python's json, which accepts it (checked with LLaMA-Factory 0.9.5). In JSON Lines pyarrow fails too."""
    if not _ESCAPED_SURROGATE.search(raw) or layout(path) != "array":
        return _FAILED
    import json

    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _FAILED
_NAN = re.compile(rb"\bNaN\b|-?\bInfinity\b")


def _nan_fallback(raw: bytes) -> Any:
    """NaN/Infinity: not JSON, but LLaMA-Factory's loaders (pyarrow, pandas) accept them; so does Python's json."""
    if not _NAN.search(raw):
        return _FAILED
    import json

    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _FAILED


def offset_place(span: Span, text: str, offset: int) -> Tuple[int, int]:
    """Line/column in the file of a character offset inside a record's text."""
    newlines = text.count("\n", 0, offset)
    if not newlines:
        return span.line, span.column + offset
    return span.line + newlines, offset - text.rfind("\n", 0, offset)


def _parse_problem(path: str, span: Span, raw: bytes, err: Exception) -> Problem:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        text = raw[:bad.start].decode("utf-8")
        line, column = offset_place(span, text, len(text))
        return Problem("not-utf8", f"invalid UTF-8 byte 0x{raw[bad.start]:02x}: LLaMA-Factory's loader cannot "
                                   "decode the file", path, line, column, span.index)
    message = getattr(err, "msg", str(err))
    pos = getattr(err, "pos", 0) or 0
    line, column = offset_place(span, text, min(pos, len(text)))
    if "depth limit" in message or "recursion" in message:
        return Problem("too-deep", "nesting deeper than 1024 levels", path, line, column, span.index)
    return Problem("invalid-json", message, path, line, column, span.index)


def iter_json_records(path: str) -> Iterator[Union[Record, Problem]]:
    """Frame and parse in one pass, in this process."""
    pending: List[Span] = []

    def flush() -> Iterator[Union[Record, Problem]]:
        yield from parse_spans(path, read_spans(path, pending))
        pending.clear()

    size = 0
    for item in frames(path):
        if isinstance(item, Problem):
            yield from flush()
            yield item
            continue
        pending.append(item)
        size += item.end - item.start
        if size >= BLOCK or len(pending) >= 4096:
            yield from flush()
            size = 0
    yield from flush()
