"""The data LLaMA-Factory will read is the data checked (issue 20 §3): data linked inside the project is read as the
data it is; every row of a Parquet, Arrow or CSV file is checked in bounded batches, whatever the row count; what a
cap on one value still stops is an error, and the row count stays the real one."""

import json
import os
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from conftest import write_project
from helpers import check_json, find
from lfgate.readers import tabular

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

REGISTRY = '{"a": {"file_name": "%s"}}\n'
GOOD = {"instruction": "hi", "input": "", "output": "hello"}
BAD = {"instruction": "hi", "input": "", "output": None}  # no response (null, as an empty CSV cell): DS104 there


def _errors_and_warnings(report):
    return [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]


# -- symlinks -------------------------------------------------------------------------------------------------
def test_a_data_file_linked_inside_the_project_is_checked(tmp_path):
    write_project(tmp_path, {"data/dataset_info.json": REGISTRY % "a.json",
                             "shared/a.json": '[{"instruction": "hi", "input": "", "output": 5}]\n'})
    os.symlink(os.path.join("..", "shared", "a.json"), tmp_path / "data" / "a.json")
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and find(report, "DS104") and not find(report, "DF005")
    assert report["summary"]["samples"] == 1


def test_a_dataset_folder_member_linked_out_of_the_project_is_not_read(tmp_path):
    outside = tmp_path / "elsewhere" / "x.json"
    outside.parent.mkdir()
    outside.write_text('{"secret": "never-shown-4711"\n', encoding="utf-8")
    root = write_project(tmp_path / "p", {"data/dataset_info.json": REGISTRY % "parts",
                                          "data/parts/1.json": json.dumps([GOOD])})
    os.symlink(outside, root / "data" / "parts" / "2.json")
    code, out_report = check_json(".", cwd=root)
    [hit] = find(out_report, "DF005")
    assert hit["severity"] == "warning" and "not checked" in hit["message"]
    assert "never-shown-4711" not in json.dumps(out_report) and not find(out_report, "DF010")


def test_a_data_file_named_alone_and_linked_out_of_the_project_is_not_read(tmp_path, monkeypatch):
    from lfgate.validator import datasets

    opened = []
    real_iter_file = datasets.iter_file
    monkeypatch.setattr(datasets, "iter_file", lambda path: opened.append(path) or real_iter_file(path))
    outside = tmp_path / "elsewhere" / "notes.json"
    outside.parent.mkdir()
    outside.write_text('[{"never_shown_field_4711": "x"}]\n', encoding="utf-8")
    root = tmp_path / "p"
    root.mkdir()
    os.symlink(outside, root / "d.json")
    _, report = check_json("d.json", cwd=root)
    [hit] = find(report, "DF005")
    assert hit["severity"] == "warning" and "not checked" in hit["message"]
    assert "never_shown_field_4711" not in json.dumps(report) and report["summary"]["samples"] == 0
    assert opened == []  # not even read to infer its entry


def test_a_link_to_another_folder_of_the_same_repository_is_read(tmp_path):
    """The project of a registry is the repository that holds it, also when only its data folder is checked."""
    root = write_project(tmp_path, {".git/HEAD": "ref: refs/heads/main\n", "app/data/dataset_info.json":
                                    REGISTRY % "a.json", "corpus/a.json": json.dumps([BAD])})
    os.symlink(os.path.join("..", "..", "corpus", "a.json"), root / "app" / "data" / "a.json")
    _, report = check_json("app", cwd=root)
    assert find(report, "DS104") and not find(report, "DF005")


# -- every row, in bounded batches ----------------------------------------------------------------------------
def _rows(n: int, bad_at: int) -> list:
    return [BAD if i == bad_at else GOOD for i in range(n)]


def _write(path, rows, kind, group=None):
    table = pa.Table.from_pylist(rows)
    if kind == "parquet":
        pq.write_table(table, path, row_group_size=group or len(rows))
    elif kind == "arrow":  # one IPC batch of every row: the reader slices it
        with pa.ipc.new_stream(str(path), table.schema) as writer:
            writer.write_batch(table.combine_chunks().to_batches(max_chunksize=len(rows))[0])
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write("instruction,input,output\n" + "".join(f"{r['instruction']},,{r['output']}\n" for r in rows))


def _check_table(tmp_path, rows, kind, group=None):
    name = f"a.{kind}"
    write_project(tmp_path, {"data/dataset_info.json": REGISTRY % name})
    _write(tmp_path / "data" / name, rows, kind, group)
    return check_json(".", cwd=tmp_path)[1]


@given(n=st.integers(1, 40), group=st.integers(1, 9), batch=st.integers(1, 7), kind=st.sampled_from(
    ["parquet", "arrow", "csv"]))
@settings(max_examples=25, deadline=None)
def test_the_last_row_is_checked_at_any_row_count(tmp_path_factory, n, group, batch, kind):
    """Small row groups and batches stand for large files: past any batch, row group or count, the last row is
    checked and counted. The caps `convert` keeps for loading a whole table (rows per byte) stop nothing here."""
    with mock.patch.object(tabular, "BATCH", batch), mock.patch.object(tabular, "MAX_EXPANDED_ROWS", 1), \
            mock.patch.object(tabular, "ROWS_PER_BYTE", 0):
        report = _check_table(tmp_path_factory.mktemp("t"), _rows(n, n - 1), kind, group)
    assert report["summary"]["samples"] == n
    assert [d["sample"] for d in find(report, "DS104")] == [n - 1]


# (A dictionary-encoded file of 43 KB holding 5 million rows: tests/test_hostile_faults.py.)


# -- what the cap on one value still stops is an error ----------------------------------------------------------
@pytest.mark.parametrize("kind", ["parquet", "arrow", "csv"])
def test_a_value_over_the_cap_is_an_error_and_every_other_row_is_checked(tmp_path, kind):
    rows = _rows(9, 8)
    rows[3] = {"instruction": "x" * 1500, "input": "", "output": "hello"}
    with mock.patch.object(tabular, "MAX_VALUE_BYTES", 1000), mock.patch.object(tabular, "BATCH", 4):
        report = _check_table(tmp_path, rows, kind, group=9)
    [capped] = find(report, "DF040")
    assert capped["severity"] == "error" and capped["sample"] == 3 and "'instruction'" in capped["message"]
    assert report["summary"]["samples"] == 9 and [d["sample"] for d in find(report, "DS104")] == [8]


def test_a_row_group_that_cannot_be_decoded_is_an_error_and_still_counted(tmp_path):
    """A column chunk that averages over the cap per row is never decoded: its rows are the unchecked part, an
    error; the rows still count, so the step budgets see the real row count (Parquet metadata)."""
    rows = [{"instruction": "x" * 400, "input": "", "output": "hello"}] * 2 + _rows(3, 2)
    with mock.patch.object(tabular, "MAX_VALUE_BYTES", 100):
        report = _check_table(tmp_path, rows, "parquet", group=2)
    [capped] = find(report, "DF040")
    assert capped["severity"] == "error" and "samples 0-1 (row group 0)" in capped["message"]
    assert report["summary"]["samples"] == 5 and [d["sample"] for d in find(report, "DS104")] == [4]
    assert not [d for d in _errors_and_warnings(report) if d["code"] == "DF020"]
