"""The text report as a terminal shows it: carets by screen width, no emoji or markup from input (issue 25 §2)."""

import io
import os

from lfgate.diagnostics import Diagnostic, Report, Severity
from lfgate.reporters import text


def _render(tmp_path, monkeypatch, lines, **where):
    path = tmp_path / "data.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # code frames are quoted only from inside the project
    out = io.StringIO()
    text.render(Report(diagnostics=[Diagnostic("DS101", Severity.WARNING, "a finding", file=str(path), **where)],
                       files=1, samples=1), out)
    return out.getvalue()


def _frame(shown):
    quoted = next(s for s in shown.splitlines() if s.startswith("     1 |"))
    caret = next(s for s in shown.splitlines() if s.startswith("       |"))
    return quoted, caret.index("^")


def test_the_caret_lands_under_the_column_on_a_line_with_chinese_text(tmp_path, monkeypatch):
    from rich.cells import cell_len

    line = '{"instruction": "抽取环境指标", "output": 5}'
    column = line.index('"output"') + 1
    quoted, caret = _frame(_render(tmp_path, monkeypatch, [line], line=1, column=column))
    # six CJK characters take twelve terminal cells: the caret is under the `"` of "output" on screen
    assert caret == cell_len(quoted[:quoted.index('"output"')]) == quoted.index('"output"') + 6


def test_a_tab_before_the_column_keeps_the_caret_under_it(tmp_path, monkeypatch):
    quoted, caret = _frame(_render(tmp_path, monkeypatch, ['\t"x": 1'], line=1, column=3))
    assert quoted[caret] == "x"  # the terminal expands the tab in both lines alike


def test_line_100_is_not_turned_into_an_emoji(tmp_path, monkeypatch):
    shown = _render(tmp_path, monkeypatch, ["[]"] * 120, line=100, column=1)
    assert "data.json:100:1" in shown.replace(os.sep, "/") and "\N{HUNDRED POINTS SYMBOL}" not in shown


def test_markup_and_emoji_codes_in_a_message_are_printed_as_written(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text("[]\n")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    message = "value [bold]:smile:[/bold] :100: kept"
    text.render(Report(diagnostics=[Diagnostic("DS101", Severity.WARNING, message, file=str(path))],
                       files=1, samples=0), out)
    assert message in out.getvalue()
