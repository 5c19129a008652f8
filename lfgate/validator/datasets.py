"""Check one dataset: the file rules, then every record, streamed, over worker processes for large files.

Layout of a run over one JSON/JSONL file (see benchmarks/README.md for the numbers behind the choices):

- the main process cuts the file into tasks of about ``CHUNK_BYTES``: JSON Lines into blocks of whole lines
  (readers/jsonfile.py ``iter_line_blocks``, cut on trust: only the newlines are found, each line is taken for a
  record; the worker finds blank or indented lines as it reads, and a blank line renumbers the later blocks:
  ``_blocks_over_pool``), a JSON array into record byte ranges with line/column (``frames``);
- each task goes to a worker, which reads its byte range and proves each record clean with the typed step
  (validator/typed.py: msgspec structs, JSON Lines only) or the clean-record fast path on orjson's value
  (validator/fastpath.py), or, when neither can vouch for it, runs the full pipeline: its own ``SampleChecker``
  and ``ColumnTracker``; it returns diagnostics (already placed: locate() needs the record's bytes, which only the
  worker has), its record count and its checker/tracker state;
- the main process merges results strictly in file order, with at most ``2 * workers`` tasks in flight, so
  memory stays bounded whatever the file size.

Files under ``PARALLEL_MIN_BYTES`` (and every non-JSON file) are checked in-process, by the same code: no pool
start-up cost.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from typing import Any, Iterable, List, Tuple

import orjson

from lfgate.lf_facts import a_json_type
from lfgate.readers import builder, guarded, iter_file, locate
from lfgate.readers.records import Problem, Record
from lfgate.validator import datafile, dataset_info, fastpath, lfs
from lfgate.validator.model import DatasetEntry, DatasetResult, DatasetUsage, Registry

CHUNK_BYTES = 8 << 20  # work per task: large enough to amortise pickling, small enough to balance 2-16 cores
CHUNK_RECORDS = 16384  # ... and at most this many records, so tiny records do not pile up span tuples
PARALLEL_MIN_BYTES = 16 << 20  # below this one process is faster than starting a pool
INFER_SAMPLE = 200  # records infer_entry looks at
MAX_SYNTAX_ERRORS = 1000  # per dataset: LLaMA-Factory stops at the first; a non-JSONL file could give millions



# -- per-record work, shared by the in-process path and the workers ---------------------------------------------
def _new_checker(entry, usage, settings):
    """The SampleChecker, or None when LLaMA-Factory cannot start converting (the registry rules say why)."""
    if not dataset_info.convertible(entry):
        return None
    from lfgate.validator.samples import SampleChecker

    return SampleChecker(entry, usage, settings)


_READABLE_ANYWAY = ("nan", "top-level", "bom", "over-cap")  # problems after which the records still come


class _Scan:
    """Everything one stretch of records produces; merged in file order."""

    def __init__(self, entry, usage, settings, track_types: bool):
        self.diagnostics: List = []
        self.records = 0
        self.last_index = -1
        self.fatal = False  # a problem that stops LLaMA-Factory reading the file
        self.syntax_errors = 0  # invalid-json problems seen; only the first MAX_SYNTAX_ERRORS are kept
        self.checker = _new_checker(entry, usage, settings)
        self.tracker = datafile.ColumnTracker(track_types)
        self.fast = fastpath.for_scan(entry, self.checker, self.tracker) if settings is None or \
            settings.fast_path else None
        self.typed: Any = None  # the typed step in front of the fast path (JSON Lines), False: none; None: not yet
        self.block_records = 0  # records in the block a worker fed (feed_block)

    def __getstate__(self):  # workers send back what merge() reads; the fast path stays behind
        state = dict(self.__dict__)
        state["fast"] = state["typed"] = None
        return state

    def feed(self, items: Iterable, entry: DatasetEntry, offset: int = 0) -> None:
        fast = self.fast
        take = fast.take if fast is not None else None
        clean = messages = 0
        last_clean = -1
        same, same_n = None, 0  # a table row the fast path took, and its messages: an equal next row is clean too
        for item in items:
            if take is not None and type(item) is Record:
                value = item.value
                if same_n and item.raw is None and value == same:
                    n = same_n
                else:
                    n = take(value, item.raw)
                    same, same_n = (value, n) if item.raw is None else (None, 0)
                if n:
                    clean += 1
                    messages += n
                    last_clean = item.index + offset
                    continue
            self._one(item, entry, offset)
        self._credit(clean, messages, last_clean)

    def feed_lines(self, path: str, data: bytes, line: int, index: int, entry: DatasetEntry, offset: int,
                   base: int = 0) -> int:
        """A block of whole JSON Lines (``jsonfile.iter_line_blocks``; ``base``: its file offset), one record per
        line, starting at ``line`` and sample ``index``, until a line is blank or starts with blank space: from
        there on the lines are framed one by one (``line_spans``). Returns the number of records. Clean records
        take the fast path without a Record object, and without a copy of their bytes (orjson reads a view; the
        fast path counts in the block)."""
        from lfgate.readers.jsonfile import Span, parse

        fast = self.fast
        take = fast.take if fast is not None else None
        if self.typed is None and isinstance(fast, fastpath.CleanChat):
            from lfgate.validator.typed import for_chat

            self.typed = for_chat(fast) or False
        typed = self.typed or None
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        view, find, size = memoryview(data), data.find, len(data)
        clean = messages = 0
        start = i = 0
        records = -1
        while start < size:
            if data[start] < 33:  # a blank line, or blank space before a record (or a control character)
                records = i + self._feed_rest(path, data, start, base, line + i, index + i, entry, offset)
                break
            end = find(b"\n", start)
            if end < 0:
                end = size
            if typed is not None:
                n = typed.take(view[start:end], data, start, end)
                if n:
                    clean += 1
                    messages += n
                    i += 1
                    start = end + 1
                    continue
                if not typed.enabled:
                    typed = None
            try:
                value = loads(view[start:end])
            except decode_error:
                self._feed_items(parse(path, Span(0, 0, line + i, 1, index + i), data[start:end]), entry, offset)
            else:
                n = take(value, data, start, end) if take is not None else 0
                if n:
                    clean += 1
                    messages += n
                else:
                    self._one(Record(index + i, value, path, line + i, 1, data[start:end]), entry, offset)
            if typed is not None:
                typed.refresh()  # the full pipeline may have noted a field: the decoder may take it from now on
            i += 1
            start = end + 1
        if i:
            self._credit(clean, messages, index + offset + i - 1)
        return i if records < 0 else records

    def _feed_rest(self, path, data: bytes, start: int, base: int, line: int, index: int, entry, offset) -> int:
        from lfgate.readers.jsonfile import line_spans, parse_spans

        spans = line_spans(data[start:], base + start, line, index)
        self.feed(parse_spans(path, ((s, data[s.start - base:s.end - base]) for s in spans)), entry, offset)
        return len(spans)

    def _feed_items(self, items, entry, offset) -> None:
        for item in items:
            self._one(item, entry, offset)

    def _credit(self, clean: int, messages: int, last_index: int) -> None:
        """Counters for the records the fast path took (they change nothing else)."""
        fast = self.fast
        if clean and fast is not None:  # only the fast path takes records
            self.records += clean
            self.last_index = max(self.last_index, last_index)
            fast.credit(clean, messages, last_index)

    def _one(self, item, entry: DatasetEntry, offset: int) -> None:
        """The full pipeline for one record or reading problem."""
        name = entry.name
        checker, tracker, out = self.checker, self.tracker, self.diagnostics
        if isinstance(item, Problem):
            if item.kind == "invalid-json":
                self.syntax_errors += 1
                if self.syntax_errors > MAX_SYNTAX_ERRORS:
                    self.fatal = True
                    return
            if item.sample is not None:
                item = item._replace(sample=item.sample + offset)
                if item.rows:  # samples not read (over lfgate's cap): still samples LLaMA-Factory trains on
                    self.records += item.rows
                    self.last_index = max(self.last_index, item.sample + item.rows - 1)
            out.append(datafile.problem_diagnostic(item, name))
            self.fatal = self.fatal or item.kind not in _READABLE_ANYWAY
            return
        if offset:
            item.index += offset
        self.records += 1
        self.last_index = max(self.last_index, item.index)
        value = item.value
        if not isinstance(value, dict):
            unwrap = ("; it wraps one object: unwrap it ([{...}] -> {...}), as `lfgate fix` does"
                      if datafile.wrapped_record(value) is not None else "; make it an object (field -> value)")
            out.append(datafile.NOT_OBJECT.diag(
                f"sample {item.index} is {a_json_type(value)}, not an object{unwrap}", file=item.file,
                line=item.line, column=item.column, sample=item.index, dataset=name))
            self.fatal = True
            return
        if tracker.observe(item):
            duplicate = datafile.duplicate_key(item, name)
            if duplicate is not None:
                out.append(duplicate)
        big = datafile.big_integer(item, name)
        if big is not None:
            out.append(big)
        if checker is not None:
            for finding in checker.check(item.index, value):
                out.append(_finding_diagnostic(finding, item, name))

    def merge(self, other: _Scan) -> None:
        room = MAX_SYNTAX_ERRORS - self.syntax_errors
        if other.syntax_errors > room:  # keep the earliest ones, in file order
            kept = []
            for d in other.diagnostics:
                if d.code == datafile.INVALID_JSON.code:
                    if room <= 0:
                        continue
                    room -= 1
                kept.append(d)
            other.diagnostics = kept
        self.syntax_errors += other.syntax_errors
        self.diagnostics.extend(other.diagnostics)
        self.records += other.records
        self.last_index = max(self.last_index, other.last_index)
        self.fatal = self.fatal or other.fatal
        if self.checker is not None and other.checker is not None:
            self.checker.merge(other.checker)
        self.tracker.merge(other.tracker)


def _finding_diagnostic(finding, record: Record, dataset: str):
    line, column = locate(record, finding.path) if finding.path else (record.line, record.column)
    sample = finding.sample if finding.sample is not None else record.index
    return finding.rule.diag(finding.message, severity=finding.severity, file=record.file, line=line,
                             column=column, sample=sample, dataset=dataset)


def _work(path: str, spans: list, entry, usage, settings, offset: int) -> _Scan:
    """A worker's task: parse and check one chunk of spans."""
    from lfgate.readers.jsonfile import parse_spans, read_spans

    scan = _Scan(entry, usage, settings, track_types=True)
    scan.feed(parse_spans(path, read_spans(path, spans)), entry, offset)
    return scan


def _work_block(path: str, block, entry, usage, settings, offset: int) -> _Scan:
    """A worker's task: read, parse and check one block of JSON Lines."""
    with guarded.open_regular(path) as f:
        f.seek(block.start)
        data = f.read(block.end - block.start)
    scan = _Scan(entry, usage, settings, track_types=True)
    scan.block_records = _feed_block(scan, path, block, data, entry, offset)
    return scan


def _feed_block(scan: _Scan, path: str, block, data: bytes, entry, offset: int) -> int:
    """Check one block; returns how many records it held."""
    from lfgate.readers.jsonfile import parse_spans

    if block.spans is None:
        return scan.feed_lines(path, data, block.line, block.index, entry, offset, block.start)
    pieces = ((span, data[span.start - block.start:span.end - block.start]) for span in block.spans)
    scan.feed(parse_spans(path, pieces), entry, offset)
    return len(block.spans)


# -- one dataset -------------------------------------------------------------------------------------------------
def check_entry(entry: DatasetEntry, usage: DatasetUsage, settings) -> DatasetResult:
    result = DatasetResult(entry=entry, path=entry.local_path)
    result.diagnostics.extend(dataset_info.stage_rules(entry, usage))
    if entry.load_from != "file":
        return result  # hub, script and cloud sources: reported by the registry rules
    files, diagnostics = datafile.resolve_files(entry)
    result.diagnostics.extend(diagnostics)
    if files is None:
        return result
    files, pointers = lfs.split_pointers(entry, files)
    result.diagnostics.extend(pointers)
    if pointers and not files:
        return result  # nothing to read until `git lfs pull`
    result.diagnostics.extend(datafile.csv_shape_rule(entry, files))
    _scan_files(entry, usage, settings, files, result)
    return result


def _scan_files(entry, usage, settings, files: List[str], result: DatasetResult) -> None:
    track_types = all(builder(f) == "json" for f in files)  # Arrow types of CSV/Parquet/Arrow are fixed already
    total = _Scan(entry, usage, settings, track_types)
    workers = settings.workers or os.cpu_count() or 1
    offset = 0
    for path in files:
        if builder(path) is None:
            continue
        before = _identity(path)
        size = before[0] if before else 0
        try:
            lines_from = _lines_start(path)
            if builder(path) == "json" and workers > 1 and size >= PARALLEL_MIN_BYTES:
                # never more processes than cores or chunks (`workers = 99999` from a pull request's config)
                useful = min(workers, os.cpu_count() or 1, size // CHUNK_BYTES + 1)
                _scan_parallel(path, entry, usage, settings, useful, offset, total, lines_from)
            elif lines_from is not None:
                from lfgate.readers.jsonfile import iter_line_blocks

                part = _Scan(entry, usage, settings, track_types)
                index = 0  # blocks are cut on trust (no search for blank lines); feed_lines counts the records
                for block, data in iter_line_blocks(path, lines_from, CHUNK_BYTES, trust_plain=[True]):
                    assert data is not None  # with_data (the default) keeps each block's bytes
                    index += _feed_block(part, path, block._replace(index=index), data, entry, offset)
                total.merge(part)
            else:
                part = _Scan(entry, usage, settings, track_types)
                part.feed(iter_file(path), entry, offset)
                total.merge(part)
        except OSError as err:
            total.diagnostics.append(datafile.UNREADABLE.diag(f"cannot read {os.path.abspath(path)}: "
                                                              f"{err.strerror or err}", file=path, dataset=entry.name))
            total.fatal = True
            continue
        changed = _changed(path, before, entry)
        if changed is not None:
            total.diagnostics.append(changed)
        offset = total.last_index + 1
    where = files[0] if len(files) == 1 else entry.local_path
    result.samples = total.records
    result.diagnostics.extend(total.diagnostics)
    if total.syntax_errors > MAX_SYNTAX_ERRORS:
        result.diagnostics.append(datafile.INVALID_JSON.diag(
            f"... and {total.syntax_errors - MAX_SYNTAX_ERRORS} more syntax errors not listed; is this file JSON "
            "Lines (one object per line) or one JSON array?", file=where, dataset=entry.name))
    if total.records == 0 and not total.fatal:
        line, column = entry.place("file_name")
        result.diagnostics.append(datafile.EMPTY_DATASET.diag(
            f"{os.path.abspath(where)} holds no samples: LLaMA-Factory raises `Instruction \"train\" corresponds to "
            "no data!`; add samples or drop the dataset", file=entry.registry_path, line=line, column=column,
            dataset=entry.name))
    if total.tracker.track_types:
        result.diagnostics.extend(total.tracker.findings(entry, files))
    if total.checker is not None and total.records:
        for finding in total.checker.finish():
            result.diagnostics.append(finding.rule.diag(finding.message, severity=finding.severity, file=where,
                                                        sample=finding.sample, dataset=entry.name,
                                                        affected=finding.affected))
        result.facts = total.checker.facts()
    result.facts.rows = total.records
    n = entry.num_samples
    result.facts.effective_samples = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else total.records


def _identity(path: str):
    """(size, mtime, inode) of a file, to notice it changing while it is read; None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _changed(path: str, before, entry):
    """DF006 when the file is not the one that was opened any more (truncated, rewritten, replaced): the counts
    and findings describe a file that no longer exists (a truncated 66 MB file was reported "ok")."""
    after = _identity(path)
    if before is None or after == before:
        return None
    what = f"its size went from {before[0]} to {after[0]} bytes" if after and after[0] != before[0] else \
        "it was rewritten or replaced" if after else "it was removed"
    return datafile.UNREADABLE.diag(f"the file changed while it was checked ({what}): this report does not describe "
                                    "it; check again once nothing writes it", file=path, dataset=entry.name)


def _lines_start(path: str):
    """Where a JSON Lines file's records start, or None for anything else (arrays, one object, tabular)."""
    if builder(path) != "json":
        return None
    from lfgate.readers.jsonfile import line_blocks_start

    return line_blocks_start(path)


def _pool(workers: int):
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    if "fork" not in methods:  # a spawned worker starts as `python -c ...` in the project: keep it off sys.path
        os.environ.setdefault("PYTHONSAFEPATH", "1")  # (Python 3.11+; lfgate.subprocesses, issue 21)
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _chunks(path: str) -> Iterable[Tuple[list, list]]:
    """(spans, framing problems) of about CHUNK_BYTES each, in file order."""
    from lfgate.readers.jsonfile import frames

    spans, problems, size = [], [], 0
    for item in frames(path):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        spans.append(item)
        size += item.end - item.start
        if size >= CHUNK_BYTES or len(spans) >= CHUNK_RECORDS:
            yield spans, problems
            spans, problems, size = [], [], 0
    if spans or problems:
        yield spans, problems


def _scan_parallel(path, entry, usage, settings, workers, offset, total: _Scan, lines_from=None) -> None:
    """Chunks of one file over a process pool, merged into total in file order. JSON Lines go as blocks of
    whole lines (the worker reads them itself); anything else as the record spans the framing found."""

    in_flight: deque = deque()
    if lines_from is not None and entry.formatting == "sharegpt":
        from lfgate.validator.typed import preload

        preload()  # once here, not once per forked worker
    from lfgate.tokens.counters import preload as preload_tokens

    preload_tokens(usage)  # the model's vocabulary, likewise (lfgate/tokens)

    def collect(future, problems):
        part = future.result()
        total.merge(part)
        if problems:  # framing problems: structure between records; merged right after their chunk
            frame = _Scan(entry, usage, settings, False)
            frame.checker = frame.fast = None
            frame.feed(problems, entry, offset)
            total.merge(frame)

    with _pool(workers) as pool:
        if lines_from is not None:
            _blocks_over_pool(pool, path, entry, usage, settings, workers, offset, total, lines_from)
            return
        tasks = ((pool.submit(_work, path, spans, entry, usage, settings, offset), problems)
                 for spans, problems in _chunks(path))
        for task in tasks:
            in_flight.append(task)
            while len(in_flight) >= 2 * workers:
                collect(*in_flight.popleft())
        while in_flight:
            collect(*in_flight.popleft())


def _blocks_over_pool(pool, path, entry, usage, settings, workers, offset, total: _Scan, lines_from: int) -> None:
    """JSON Lines blocks over the pool, merged in file order. The blocks are cut on trust: each line is taken for
    a record, without a search for blank lines in the main process (the workers look as they read). A worker that
    finds fewer records than lines (blank lines) shifts the first sample of every later block: from there on the
    blocks are cut exactly (a search per block), and a block that went out with the wrong first sample is sent
    again, once, when its turn comes."""
    from lfgate.readers.jsonfile import iter_line_blocks

    trust = [True]
    shift = 0  # records the cutter counted that were blank lines
    next_index = None  # the first sample of the next block to merge, once known
    in_flight: deque = deque()

    def send(block):
        return pool.submit(_work_block, path, block, entry, usage, settings, offset)

    def collect():
        nonlocal shift, next_index
        future, block = in_flight.popleft()
        if next_index is not None and block.index != next_index:  # blocks before it held blank lines
            future.cancel()
            block = _shifted(block, next_index - block.index)
            future = send(block)
        part = future.result()
        total.merge(part)
        blank = block.records - part.block_records
        if blank:
            trust[0] = False
            shift -= blank
        next_index = block.index + part.block_records

    for block, _ in iter_line_blocks(path, lines_from, CHUNK_BYTES, with_data=False, trust_plain=trust):
        block = _shifted(block, shift)
        in_flight.append((send(block), block))
        while len(in_flight) >= 2 * workers:
            collect()
    while in_flight:
        collect()


def _shifted(block, delta: int):
    """The block with its samples numbered ``delta`` further (its spans too, when it has them)."""
    if not delta:
        return block
    spans = None if block.spans is None else [span._replace(index=span.index + delta) for span in block.spans]
    return block._replace(index=block.index + delta, spans=spans)


# -- files no registry names -------------------------------------------------------------------------------------
def check_unregistered(path: str, settings, project: Tuple[str, ...] = ()) -> DatasetResult:
    """``project``: the checked project's folders (real paths); a file linked out of them is not read, not even
    to infer its entry."""
    folder = os.path.dirname(path) or "."
    registry = Registry(path=path, dataset_dir=folder, project=project)
    raw_entry = {"file_name": os.path.basename(path)}
    entry = dataset_info.resolve_entry(os.path.basename(path), raw_entry, registry)
    note = None
    if builder(path) is not None and datafile._regular(path) and not datafile.linked_out(path, entry):
        first = []
        try:
            for item in iter_file(path):
                if isinstance(item, Record):
                    first.append(item.value)
                    if len(first) >= INFER_SAMPLE:
                        break
        except (OSError, ValueError):
            first = []
        from lfgate.validator.samples import infer_entry

        inferred, note = infer_entry(first, path)
        if isinstance(inferred, dict):
            inferred = dataset_info.resolve_entry(os.path.basename(path), inferred, registry)
        if inferred is not None:
            entry = inferred
            entry.registry_path, entry.dataset_dir, entry.project = path, folder, project
            entry.load_from, entry.source = "file", os.path.basename(path)
    result = check_entry(entry, DatasetUsage(), settings)
    result.entry = entry
    if note:
        result.diagnostics.insert(0, datafile.FORMAT_INFERRED.diag(
            f"no dataset_info.json names this file; checked as {note}. Register it to check it exactly",
            file=path, dataset=entry.name))
    return result
