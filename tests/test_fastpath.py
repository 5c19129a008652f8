"""The clean-record fast path (validator/fastpath.py) and the JSON Lines blocks it reads (readers/jsonfile.py).

The fast path is an optimisation only: with it and without it (`--no-fast-path`), every report must be the same,
finding for finding, place for place. The records below are built to sit on each edge of what it accepts: roles,
empty and non-string contents, placeholders, extra fields of each type, keys given twice, cutoff_len.
"""

from __future__ import annotations

import json
import pathlib
import tempfile

import pytest
from hypothesis import given, note, settings as hsettings, strategies as st

import strategies as S
from conftest import write_project
from helpers import check_json
from lfgate.readers.jsonfile import LineBlock, iter_line_blocks
from lfgate.validator import datasets

TEXTS = ["hello", "a longer answer with words", "hi", "", " ", "<image>", "see <video> here", "x<audio>", "k\": v",
         "ünïcödé ✓", "line\nbreak", "\\u003cimage>", "a" * 400]
ROLES = ["human", "gpt", "system", "observation", "function_call", "bot", "Human", None, 3]
EXTRA_VALUES = [None, "id-1", 7, 2.5, True, [1, 2], {"k": "v"}, "", 123456789012345678901234]


@st.composite
def chat_record(draw):
    """A sharegpt record: mostly clean, with one or more of the perturbations the fast path must notice."""
    rounds = draw(st.integers(1, 3))
    messages = []
    for _ in range(rounds):
        messages.append({"from": "human", "value": draw(st.sampled_from(TEXTS[:3] + TEXTS[9:10]))})
        messages.append({"from": "gpt", "value": draw(st.sampled_from(TEXTS[:3]))})
    record = {"conversations": messages}
    if draw(st.booleans()):
        record["system"] = draw(st.sampled_from(["You are helpful.", "", None, 5]))
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["role", "text", "text", "text", "content-type", "extra-message-key", "missing-key", "drop",
                                     "system-first", "extra-field", "not-list", "empty-list", "not-dict"]))
        i = draw(st.integers(0, len(messages) - 1)) if messages else 0
        if what in ("role", "text", "content-type", "extra-message-key", "missing-key") and not (
                messages and isinstance(messages[i], dict)):
            continue
        if what == "role":
            messages[i]["from"] = draw(st.sampled_from(ROLES))
        elif what == "text":
            messages[i]["value"] = draw(st.sampled_from(TEXTS))
        elif what == "content-type":
            messages[i]["value"] = draw(st.sampled_from([None, 1, ["a"], {"a": 1}, True]))
        elif what == "extra-message-key":
            messages[i]["weight"] = draw(st.sampled_from([0, 1, "x"]))
        elif what == "missing-key":
            messages[i].pop(draw(st.sampled_from(["from", "value"])), None)
        elif what == "drop" and messages:
            del messages[i]
        elif what == "system-first":
            messages.insert(0, {"from": "system", "value": "be brief"})
        elif what == "extra-field":
            record[draw(st.sampled_from(["id", "meta", "tools"]))] = draw(st.sampled_from(EXTRA_VALUES))
        elif what == "not-list":
            record["conversations"] = draw(st.sampled_from(["", "text", {}, None, 3]))
        elif what == "empty-list":
            record["conversations"] = []
        elif what == "not-dict" and messages:
            messages[i] = draw(st.sampled_from(["human", 1, None, ["from", "human"]]))
    return record


def _line(record, duplicate: bool) -> str:
    text = json.dumps(record, ensure_ascii=False)
    if duplicate and '"conversations": [{' in text:  # a key given twice in the first message
        text = text.replace('"conversations": [{', '"conversations": [{"from": "gpt", ', 1)
    return text


@st.composite
def chat_projects(draw):
    records = draw(st.lists(chat_record(), min_size=1, max_size=25))
    duplicates = draw(st.sets(st.integers(0, len(records) - 1), max_size=2))
    lines = [_line(r, i in duplicates) for i, r in enumerate(records)]
    layout = draw(st.sampled_from(["jsonl", "jsonl-gaps", "json"]))
    if layout == "json":
        name, data = "a.json", "[\n" + ",\n".join(lines) + "\n]\n"
    elif layout == "jsonl-gaps":  # blank and indented lines: the blocks with spans
        name = "a.jsonl"
        data = "".join(("\n" if i % 4 == 1 else "") + ("  " if i % 3 == 2 else "") + line + "\n"
                       for i, line in enumerate(lines))
    else:
        name, data = "a.jsonl", "".join(line + "\n" for line in lines)
    columns = {"messages": "conversations"}
    if draw(st.booleans()):
        columns["system"] = "system"
    if draw(st.booleans()):
        columns["tools"] = "tools"
    entry = {"file_name": name, "formatting": "sharegpt", "columns": columns}
    if draw(st.booleans()):
        entry["tags"] = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                         "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
    files = {"data/dataset_info.json": json.dumps({"a": entry}), f"data/{name}": data}
    cutoff = draw(st.sampled_from([None, 2, 3, 12, 24, 40, 4096]))
    if cutoff is not None:
        files["train.yaml"] = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                               "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\n"
                               f"cutoff_len: {cutoff}\n")
    return files


def _both(files):
    with tempfile.TemporaryDirectory() as tmp:
        write_project(pathlib.Path(tmp), files)
        fast = check_json(".", "--workers", "1", cwd=tmp)
        full = check_json(".", "--workers", "1", "--no-fast-path", cwd=tmp)
    return fast, full


@hsettings(max_examples=150)
@given(chat_projects())
def test_the_fast_path_changes_no_report(files):
    fast, full = _both(files)
    note(json.dumps(files, ensure_ascii=False)[:3000])
    assert fast == full


@given(st.one_of(S.projects(), S.mutated_projects().map(lambda m: m.project)))
def test_the_fast_path_changes_no_report_on_generated_projects(project):
    fast, full = _both(project.files())
    assert fast == full


def test_clean_records_take_the_fast_path(tmp_path, monkeypatch):
    """Not only equal: the fast path must actually carry the clean records (else it is dead code)."""
    taken = _count_fast(monkeypatch)
    rows = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
            for i in range(50)]
    rows[20]["conversations"][1]["from"] = "bot"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.jsonl",
                                                                          "formatting": "sharegpt"}}),
                             "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    code, report = check_json(".", "--workers", "1", cwd=str(tmp_path))
    assert code == 1 and [d["sample"] for d in report["diagnostics"] if d["code"] == "DS201"] == [20]
    assert sum(taken) == 48  # all but the first (it primes the state) and the defect


# -- JSON Lines blocks -------------------------------------------------------------------------------------------
def _reference(data: bytes):
    """(line, column, index) of every record, the slow obvious way."""
    out, index = [], 0
    for n, raw in enumerate(data.split(b"\n"), 1):
        stripped = raw.lstrip(b" \t\r\n")
        if stripped.rstrip(b" \t\r\n"):
            out.append((n, 1 + len(raw) - len(stripped), index, raw[len(raw) - len(stripped):]))
            index += 1
    return out


def _from_blocks(path, data: bytes, size: int):
    out = []
    for block, chunk in iter_line_blocks(path, 0, size):
        assert isinstance(block, LineBlock) and data[block.start:block.end] == chunk
        if block.spans is None:
            lines = chunk.split(b"\n")
            if chunk.endswith(b"\n"):
                lines.pop()
            out += [(block.line + k, 1, block.index + k, raw) for k, raw in enumerate(lines)]
        else:
            out += [(s.line, s.column, s.index, data[s.start:s.end]) for s in block.spans]
    return out


@given(st.lists(st.sampled_from([b'{"a": 1}', b"", b"   ", b"\t", b"\r", b'  {"b": 2}', b'{"c": "' + b"x" * 40 + b'"}',
                                 b'{"d": 3}\r', b"{broken"]), max_size=30),
       st.booleans(), st.integers(4, 64))
def test_line_blocks_place_every_record_as_a_line_by_line_read_does(lines, trailing_newline, size):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        f.write(data)
        f.flush()
        assert _from_blocks(f.name, data, size) == [r for r in _reference(data)]


def test_plain_blocks_carry_no_spans(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 1000)
    blocks = [b for b, _ in iter_line_blocks(str(path), 0, 1000)]
    assert len(blocks) > 5 and all(b.spans is None for b in blocks)
    assert [b.index for b in blocks[:3]] == [0, 111, 222]  # 9-byte lines, blocks cut after a newline


def test_parallel_blocks_give_the_serial_report(tmp_path, monkeypatch):
    rows = []
    for i in range(3000):
        row = {"conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": "ok"}]}
        if i % 500 == 7:
            row["conversations"][1]["from"] = "bot"
        rows.append(json.dumps(row))
    rows[1234] = "  " + rows[1234]  # an indented line: that block goes as spans
    data = "\n".join(rows[:2000]) + "\n\n" + "\n".join(rows[2000:]) + "\n"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.jsonl",
                                                                          "formatting": "sharegpt"}}),
                             "data/a.jsonl": data})
    monkeypatch.setattr(datasets, "CHUNK_BYTES", 8192)
    monkeypatch.setattr(datasets, "PARALLEL_MIN_BYTES", 1)
    _, serial = check_json(".", "--workers", "1", cwd=str(tmp_path))
    _, parallel = check_json(".", "--workers", "2", cwd=str(tmp_path))
    assert parallel == serial
    drops = [(d["sample"], d["line"]) for d in serial["diagnostics"] if d["code"] == "DS201"]
    assert drops == [(i, i + 1 + (i >= 2000)) for i in range(7, 3000, 500)]


def _clean(i):
    return {"system": "be kind", "tools": "",
            "conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": f"answer {i}"}]}


def _count_fast(monkeypatch, kind: str = "CleanChat") -> list:
    """The records the fast path credits, appended per call."""
    from lfgate.validator import fastpath

    taken = []
    original = getattr(fastpath, kind).credit

    def credit(self, records, messages, last):
        taken.append(records)
        return original(self, records, messages, last)

    monkeypatch.setattr(getattr(fastpath, kind), "credit", credit)
    return taken


EDGES = {  # each applied to samples 5 and 6 of 10 clean ones: the second meets a primed state
    "tools string": lambda r: r.update(tools="not json"),
    "tools list": lambda r: r.update(tools=[{"name": "f"}]),
    "placeholder": lambda r: r["conversations"][0].update(value="<image> what is it"),
    "escaped placeholder": lambda r: r["conversations"][0].update(value="\u003cimage> what is it"),
    "empty answer": lambda r: r["conversations"][1].update(value=""),
    "null answer": lambda r: r["conversations"][1].update(value=None),
    "system message": lambda r: r["conversations"].insert(0, {"from": "system", "value": "be brief"}),
    "odd count": lambda r: r["conversations"].append({"from": "human", "value": "and?"}),
    "role": lambda r: r["conversations"][1].update({"from": "assistant"}),
    "extra message key": lambda r: r["conversations"][1].update(loss=0),
    "message key of two types": lambda r: r["conversations"][1].update(
        loss=0 if r["conversations"][0]["value"].endswith("5") else "zero"),
    "int id then string id": lambda r: r.update(id=r["conversations"][0]["value"][-1:] if r["conversations"][0][
        "value"].endswith("6") else 5),
    "big int": lambda r: r.update(id=2 ** 70),
    "nested extra": lambda r: r.update(meta={"k": [1]}),
    "system int": lambda r: r.update(system=3),
    "long text": lambda r: r["conversations"][1].update(value="word " * 400),
}


@pytest.mark.parametrize("edge", sorted(EDGES))
@pytest.mark.parametrize("layout", ["a.jsonl", "a.json"])
def test_each_edge_gives_the_full_pipelines_report(edge, layout, monkeypatch):
    rows = [_clean(i) for i in range(10)]
    for i in (5, 6):
        EDGES[edge](rows[i])
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    data = "".join(line + "\n" for line in lines) if layout.endswith("l") else "[\n" + ",\n".join(lines) + "\n]\n"
    entry = {"file_name": layout, "formatting": "sharegpt",
             "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
    files = {"data/dataset_info.json": json.dumps({"a": entry}), f"data/{layout}": data,
             "train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                           "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\ncutoff_len: 64\n"}
    taken = _count_fast(monkeypatch)
    fast, full = _both(files)
    assert fast == full
    assert sum(taken) >= 6  # the clean records after the first did take the fast path


# -- alpaca ------------------------------------------------------------------------------------------------------
ALPACA_VALUES = ["hello", "", None, 3, ["a"], "<image> x", "\u003caudio>", "a" * 300, True]


@st.composite
def alpaca_record(draw):
    record = {"instruction": draw(st.sampled_from(["say hi", "translate", ""])),
              "input": draw(st.sampled_from(["", "bonjour", "some context"])),
              "output": draw(st.sampled_from(["hi", "hello there"]))}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(["instruction", "input", "output", "system", "history", "id", "extra"]))
        if key == "history":
            record[key] = draw(st.sampled_from([[], None, [["q", "a"]], "x", [["q"]]]))
        else:
            record[key] = draw(st.sampled_from(ALPACA_VALUES))
        if draw(st.booleans()):
            record.pop(draw(st.sampled_from(sorted(record))), None)
    return record


@st.composite
def alpaca_projects(draw):
    records = draw(st.lists(alpaca_record(), min_size=1, max_size=25))
    duplicates = draw(st.sets(st.integers(0, len(records) - 1), max_size=2))
    lines = []
    for i, r in enumerate(records):
        text = json.dumps(r, ensure_ascii=False)
        lines.append(text.replace("{", '{"output": "x", ', 1) if i in duplicates and '"output"' in text else text)
    name = draw(st.sampled_from(["a.jsonl", "a.json"]))
    data = "".join(line + "\n" for line in lines) if name.endswith("l") else "[\n" + ",\n".join(lines) + "\n]\n"
    entry = {"file_name": name}
    columns = draw(st.sampled_from([None, {"prompt": "instruction", "query": "input", "response": "output"},
                                    {"prompt": "instruction", "query": "input", "response": "output",
                                     "system": "system", "history": "history"},
                                    {"prompt": "instruction", "response": "output"}]))
    if columns:
        entry["columns"] = columns
    files = {"data/dataset_info.json": json.dumps({"a": entry}), f"data/{name}": data}
    cutoff = draw(st.sampled_from([None, 2, 5, 24, 40, 4096]))
    if cutoff is not None:
        files["train.yaml"] = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                               "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\n"
                               f"cutoff_len: {cutoff}\n")
    return files


@hsettings(max_examples=150)
@given(alpaca_projects())
def test_the_alpaca_fast_path_changes_no_report(files):
    fast, full = _both(files)
    note(json.dumps(files, ensure_ascii=False)[:3000])
    assert fast == full


def test_clean_alpaca_records_take_the_fast_path(tmp_path, monkeypatch):
    taken = _count_fast(monkeypatch, "CleanAlpaca")
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}", "history": []} for i in range(40)]
    rows[9]["output"] = ""
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {
        "file_name": "a.jsonl", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                            "history": "history"}}}),
        "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    code, report = check_json(".", "--workers", "1", cwd=str(tmp_path))
    assert [d["sample"] for d in report["diagnostics"]] == [9]
    assert sum(taken) == 38  # all but the first (it primes the type tracker) and the defect


ALPACA_EDGES = {  # each applied to samples 5 and 6 of 10 clean ones
    "history pairs": lambda r: r.update(history=[["q", "a"]]),
    "broken history": lambda r: r.update(history=[["q"]]),
    "history text": lambda r: r.update(history="q"),
    "empty output": lambda r: r.update(output=""),
    "no instruction": lambda r: r.update(instruction="", input=""),
    "input only": lambda r: r.update(instruction=""),
    "number output": lambda r: r.update(output=5),
    "placeholder": lambda r: r.update(input="<image>"),
    "system list": lambda r: r.update(system=["a"]),
    "long": lambda r: r.update(output="word " * 300),
}


@pytest.mark.parametrize("edge", sorted(ALPACA_EDGES))
def test_each_alpaca_edge_gives_the_full_pipelines_report(edge):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}", "system": "s", "history": []} for i in range(10)]
    for i in (5, 6):
        ALPACA_EDGES[edge](rows[i])
    entry = {"file_name": "a.jsonl", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                 "system": "system", "history": "history"}}
    files = {"data/dataset_info.json": json.dumps({"a": entry}),
             "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
             "train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                           "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\ncutoff_len: 64\n"}
    fast, full = _both(files)
    assert fast == full


@pytest.mark.parametrize("layout", ["sharegpt", "alpaca"])
@pytest.mark.parametrize("field", ["system", "tools", "history"])
def test_a_field_first_seen_holding_null_is_noted_on_the_fast_path_too(layout, field, monkeypatch):
    """A declared field that first appears, as null, in a record the fast path could take: the full pipeline
    notes that it appeared (no 'never present' finding); the fast path must not take that record."""
    if layout == "sharegpt" and field == "history":
        pytest.skip("sharegpt has no history column")
    if layout == "sharegpt":
        rows = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
                for i in range(10)]
        entry = {"file_name": "a.jsonl", "formatting": "sharegpt",
                 "columns": {"messages": "conversations", field: field}}
    else:
        rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(10)]
        entry = {"file_name": "a.jsonl", "columns": {"prompt": "instruction", "response": "output", field: field}}
    rows[6][field] = None
    files = {"data/dataset_info.json": json.dumps({"a": entry}),
             "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows)}
    taken = _count_fast(monkeypatch, "CleanChat" if layout == "sharegpt" else "CleanAlpaca")
    fast, full = _both(files)
    assert fast == full
    assert sum(taken) > 0
    assert not any(f"no record has the field {field!r}" in d["message"] for d in full[1]["diagnostics"])


@pytest.mark.parametrize("duplicate", ['"id": 1, "id": 2', '"id": 1, "n": 2, "n": 3', '"id": "a", "id": "b"',
                                       '"id": 1, "system": "s", "system": "t"'])
def test_a_key_given_twice_beside_other_fields_is_seen(duplicate):
    """The quote count that clears most records must count only what the record holds: a repeated key beside a
    number adds as few quotes as one string would."""
    rows = [json.dumps(dict(_clean(i), id=i)) for i in range(10)]
    for i in (5, 6):
        rows[i] = rows[i].replace('{"system": "be kind",', "{" + duplicate + ', "system": "be kind",', 1)
        rows[i] = rows[i].replace(f', "id": {i}}}', "}")
    entry = {"file_name": "a.jsonl", "formatting": "sharegpt",
             "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
    files = {"data/dataset_info.json": json.dumps({"a": entry}), "data/a.jsonl": "\n".join(rows) + "\n"}
    fast, full = _both(files)
    assert fast == full
    assert any(d["sample"] == 5 for d in full[1]["diagnostics"])


# -- the typed step (validator/typed.py) ------------------------------------------------------------------------
def _primed_chat(tmp_path, columns, cutoff_len=64):
    """A CleanChat and its TypedChat after the full pipeline has seen one clean record of every field."""
    from lfgate.settings import Settings
    from lfgate.validator.dataset_info import load_registry
    from lfgate.validator.model import DatasetUsage

    pytest.importorskip("msgspec")
    registry = tmp_path / "dataset_info.json"
    registry.write_text(json.dumps({"a": {"file_name": "a.jsonl", "formatting": "sharegpt", "columns": columns}}))
    entry = load_registry(str(registry), Settings()).entries["a"]
    scan = datasets._Scan(entry, DatasetUsage(cutoff_len=cutoff_len), Settings(), track_types=True)
    first = {"system": "s", "tools": "", "id": "x", "meta": 1,
             "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    data = (json.dumps(first) + "\n").encode() * 2  # the first primes the state; the second meets it primed
    scan.feed_lines("a.jsonl", data, 1, 0, entry, 0)
    assert scan.fast.primed and scan.typed
    scan.typed.refresh()
    return scan.fast, scan.typed


@hsettings(max_examples=300)
@given(st.lists(chat_record(), min_size=1, max_size=20), st.sets(st.integers(0, 19), max_size=3))
def test_the_typed_step_answers_as_the_orjson_fast_path(records, duplicates):
    """typed.take on the bytes == CleanChat.take on orjson's value, whenever the typed step answers at all."""
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        fast, typed = _primed_chat(pathlib.Path(tmp), {"messages": "conversations", "system": "system",
                                                       "tools": "tools"})
        for i, record in enumerate(records):
            raw = _line(record, i in duplicates).encode()
            got = typed.take(memoryview(raw), raw, 0, len(raw))
            try:
                want = fast.take(orjson.loads(raw), raw)
            except orjson.JSONDecodeError:  # a duplicate spliced into an empty message
                want = 0
            assert got in (0, want), raw
            if got == 0 and want and typed.enabled:
                # the typed step may decline only a field it does not type: a float, or a type first seen later
                assert any(type(v) not in (str, list, type(None)) for v in record.values()), raw


def test_the_typed_step_carries_clean_records(tmp_path):
    fast, typed = _primed_chat(tmp_path, {"messages": "conversations", "system": "system"})
    clean = json.dumps(_clean(3) | {"tools": None}).replace(', "tools": null', "").replace('"tools": "", ', "")
    raw = clean.encode()
    assert typed.take(memoryview(raw), raw, 0, len(raw)) == 2
    for bad in (raw.replace(b'"gpt"', b'"bot"'), raw.replace(b'"answer 3"', b'""'),
                raw.replace(b'"system": "be kind", ', b'"system": "be kind", "id": 1, '),
                raw.replace(b'{"from": "human", ', b'{"from": "human", "from": "human", '),
                raw.replace(b'"value": "answer 3"', b'"value": "answer 3", "weight" : 0')):  # no `":` to count
        assert typed.take(memoryview(bad), bad, 0, len(bad)) == 0, bad
    fast, typed = _primed_chat(tmp_path, {"messages": "conversations", "system": "system", "response": "id"})
    raw = json.dumps(_clean(3) | {"id": "x"}).encode()  # a field the converter reads otherwise: never typed
    assert typed.take(memoryview(raw), raw, 0, len(raw)) == 0 == fast.take(json.loads(raw), raw)
    fast, typed = _primed_chat(tmp_path, {"messages": "conversations"}, cutoff_len=None)
    for rounds, want in ((2048, 4096), (2049, 0)):  # as CleanChat.take: at most 4096 messages
        raw = json.dumps({"conversations": [{"from": r, "value": r[0]} for r in ["human", "gpt"] * rounds]}).encode()
        assert typed.take(memoryview(raw), raw, 0, len(raw)) == want == fast.take(json.loads(raw), raw)


def test_reports_are_the_same_without_msgspec(tmp_path, monkeypatch):
    """msgspec only makes the fast path faster: without it the same report comes from the orjson path."""
    from lfgate.validator import typed

    rows = [_clean(i) for i in range(30)]
    rows[7]["conversations"][1]["from"] = "bot"
    rows[9]["conversations"][0]["value"] = "<image> hi"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {
        "file_name": "a.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}}),
        "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    _, with_it = check_json(".", "--workers", "1", cwd=str(tmp_path))
    monkeypatch.setattr(typed, "for_chat", lambda fast: None)
    _, without = check_json(".", "--workers", "1", cwd=str(tmp_path))
    assert with_it == without and with_it["summary"]["samples"] == 30
    assert {d["sample"] for d in with_it["diagnostics"]} >= {7, 9}


# -- blocks cut on trust: blank lines found by the reader, later blocks renumbered --------------------------------
_ROW = '{"conversations": [{"from": "human", "value": "question %d"}, {"from": "%s", "value": "ok"}]}'


@hsettings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["clean", "clean", "clean", "defect", "blank", "indented", "broken", "crlf",
                                 "blank-cr"]), min_size=1, max_size=120),
       st.booleans(), st.sampled_from([1, 2]), st.sampled_from([0, 512]))
def test_blocks_cut_on_trust_place_every_record_as_a_line_by_line_read_does(kinds, trailing_newline, workers,
                                                                              long_line):
    """Blocks are cut without looking for blank lines; the reader finds them and later blocks are renumbered
    (sent again when already in flight). Every defect must still be reported at its own sample and line."""
    import lfgate.readers.jsonfile as jsonfile

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonfile, "_LONG_LINE", long_line)  # 0: blocks found in place, whatever the line length
        _trust_case(kinds, trailing_newline, workers)


@pytest.mark.parametrize("workers", [1, 2])
def test_blocks_cut_exactly_after_a_blank_line_are_renumbered_too(workers):
    """After the first blank line the blocks are cut exactly, with spans: those carry sample numbers too."""
    kinds = ["defect" if i % 7 == 3 else "clean" for i in range(400)]
    kinds[5] = "blank"
    for i in (100, 101, 200, 300, 301, 302):
        kinds[i] = "indented"
    _trust_case(kinds, True, workers)


def test_many_blank_lines_do_not_send_blocks_again_and_again(monkeypatch, tmp_path):
    """After a blank line the blocks are cut exactly: only blocks sent before the count was known go twice (at most
    two windows of 2 x workers blocks), not every block of the file."""
    calls = []
    original = datasets._work_block
    monkeypatch.setattr(datasets, "_work_block", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(datasets, "CHUNK_BYTES", 256)
    monkeypatch.setattr(datasets, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(datasets, "_pool", lambda workers: _InProcessPool())
    data = "".join(_ROW % (i, "gpt") + "\n\n" for i in range(300))
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.jsonl",
                                                                          "formatting": "sharegpt"}}),
                             "data/a.jsonl": data})
    _, report = check_json(".", "--workers", "2", cwd=str(tmp_path))
    blocks = sum(1 for _ in iter_line_blocks(str(tmp_path / "data" / "a.jsonl"), 0, 256))
    assert report["summary"]["samples"] == 300
    assert blocks < len(calls) <= blocks + 2 * (2 * 2)


class _InProcessPool:
    """A pool that runs each task when it is submitted (so a test can count the tasks)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future


def _trust_case(kinds, trailing_newline, workers):
    lines = []
    for i, kind in enumerate(kinds):
        if kind == "blank":
            lines.append("")
        elif kind == "blank-cr":
            lines.append("\r")
        elif kind == "broken":
            lines.append('{"conversations": [')
        else:
            lines.append(("  " if kind == "indented" else "") + _ROW % (i, "bot" if kind == "defect" else "gpt") +
                         ("\r" if kind == "crlf" else ""))
    data = "\n".join(lines) + ("\n" if trailing_newline else "")
    # the finding points at the role's value, inside the record
    expected = [(line, column + raw.find(b'"bot"')) for line, column, _, raw in _reference(data.encode())
                if b'"bot"' in raw]
    samples = [index for _, _, index, raw in _reference(data.encode()) if b'"bot"' in raw]
    files = {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.jsonl", "formatting": "sharegpt"}}),
             "data/a.jsonl": data}
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        write_project(pathlib.Path(tmp), files)
        mp.setattr(datasets, "CHUNK_BYTES", 256)
        mp.setattr(datasets, "PARALLEL_MIN_BYTES", 1)
        _, report = check_json(".", "--workers", str(workers), cwd=tmp)
    found = [d for d in report["diagnostics"] if d["code"] == "DS201"]
    assert [(d["line"], d["column"]) for d in found] == expected
    assert [d["sample"] for d in found] == samples
    parsed = [raw for *_, raw in _reference(data.encode()) if raw.rstrip().endswith(b"}")]
    assert report["summary"]["samples"] == len(parsed)


@given(st.lists(st.integers(0, 3000), max_size=40), st.booleans(), st.integers(64, 20000), st.sampled_from([0, 512]))
def test_blocks_cut_on_trust_in_place_match_blocks_cut_from_read_bytes(lengths, trailing_newline, size, long_line):
    """Cut on trust and not kept, blocks of long lines are found in a mapped window: same cuts, lines and counts
    as blocks cut from the bytes read (lines of every length, one longer than a block, no final newline)."""
    import lfgate.readers.jsonfile as jsonfile

    data = b"\n".join(b"x" * n for n in lengths) + (b"\n" if trailing_newline and lengths else b"")
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f, pytest.MonkeyPatch.context() as mp:
        f.write(data)
        f.flush()
        mp.setattr(jsonfile, "_LONG_LINE", long_line)
        in_place = [b[:4] + (b.records,) for b, _ in iter_line_blocks(f.name, 0, size, False, [True])]
        mp.setattr(jsonfile, "_LONG_LINE", 1 << 40)  # never: every block read
        read = [b[:4] + (b.records,) for b, _ in iter_line_blocks(f.name, 0, size, False, [True])]
    assert in_place == read
    assert sum(r[-1] for r in read) == (len(data.split(b"\n")) - (data.endswith(b"\n")) if data else 0)


def test_the_typed_step_stands_down_when_most_records_do_not_fit(tmp_path):
    """Records the structs cannot hold (an id of a type not seen before) cost a failed decode each: after a
    trial the step turns itself off, while a dataset of fitting records keeps it."""
    from lfgate.validator import typed as typed_module

    fast, typed = _primed_chat(tmp_path, {"messages": "conversations", "system": "system"})
    fitting = json.dumps(_clean(1) | {"id": "a", "meta": 2}).encode()
    other = json.dumps(_clean(1) | {"id": 5, "meta": 2}).encode()
    for _ in range(typed_module._TRIAL):
        assert typed.take(memoryview(fitting), fitting, 0, len(fitting)) == 2
    assert typed.enabled
    for _ in range(typed_module._TRIAL + 1):
        assert typed.take(memoryview(other), other, 0, len(other)) == 0
    assert not typed.enabled
