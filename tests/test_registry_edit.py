"""Editing dataset_info.json as text: only the touched entry changes, in the file's own style."""

import json

import pytest

from lfgate.tools.registry_edit import scan, upsert

ENTRY = {"file_name": "new.json", "formatting": "sharegpt"}


def test_append_in_two_space_style():
    text = '{\n  "a": {\n    "file_name": "a.json"\n  }\n}\n'
    new, action = upsert(text, "n", ENTRY)
    assert action == "added"
    assert new == ('{\n  "a": {\n    "file_name": "a.json"\n  },\n  "n": {\n    "file_name": "new.json",\n'
                   '    "formatting": "sharegpt"\n  }\n}\n')


def test_tabs_and_crlf_are_kept():
    text = '{\r\n\t"a": {\r\n\t\t"file_name": "a.json"\r\n\t}\r\n}\r\n'
    new, _ = upsert(text, "n", {"file_name": "n.json"})
    assert new == ('{\r\n\t"a": {\r\n\t\t"file_name": "a.json"\r\n\t},\r\n'
                   '\t"n": {\r\n\t\t"file_name": "n.json"\r\n\t}\r\n}\r\n')


def test_one_line_file_stays_one_line():
    new, _ = upsert('{"a": {"file_name": "a.json"}}', "n", {"file_name": "n.json"})
    assert new == '{"a": {"file_name": "a.json"}, "n": {"file_name": "n.json"}}'


def test_empty_object_and_non_ascii_name():
    new, _ = upsert("{}\n", "数据", {"file_name": "数据.json"})
    assert new == '{\n  "数据": {\n    "file_name": "数据.json"\n  }\n}\n'
    assert json.loads(new) == {"数据": {"file_name": "数据.json"}}


def test_update_replaces_the_last_of_duplicate_keys():
    # json (and so LLaMA-Factory) keeps the last duplicate; that is the one to update.
    text = '{"x": {"file_name": "1.json"}, "x": {"file_name": "2.json"}, "y": {"file_name": "y.json"}}'
    new, action = upsert(text, "x", {"file_name": "3.json"})
    assert action == "updated"
    assert new == '{"x": {"file_name": "1.json"}, "x": {"file_name": "3.json"}, "y": {"file_name": "y.json"}}'


def test_escapes_and_strings_with_braces_do_not_confuse_the_scan():
    text = '{"a}": {"file_name": "a\\"}{.json", "n": 1e3}, "b": [1, {"c": "}"}]}'
    layout = scan(text)
    assert [m.name for m in layout.members] == ["a}", "b"]
    assert text[layout.members[0].value_start:layout.members[0].value_end] == '{"file_name": "a\\"}{.json", "n": 1e3}'


@pytest.mark.parametrize("text", ['[]', '{"a": 1,}', '{"a" 1}', '{"a": 1} x', ''])
def test_not_an_object_raises(text):
    with pytest.raises(ValueError):
        scan(text)
