"""`lfgate register`: the entry inferred from content, refusals that show the disagreeing records."""

import json

import pytest

from conftest import CORPUS, skip_without_oracle
from helpers import check_json, run_cli
from lfgate.tools import register, validate
from lfgate.validator.infer import Inconsistent, infer

DATA = CORPUS / "data"
needs_corpus = skip_without_oracle(DATA.is_dir(), "../shared/corpus/llamafactory is not available")


def _corpus_files():
    if not DATA.is_dir():
        return []
    return sorted(p.name for p in DATA.iterdir() if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json")


def _registered():
    if not DATA.is_dir():
        return {}
    entries = json.loads((DATA / "dataset_info.json").read_text(encoding="utf-8"))
    return {e["file_name"]: (name, e) for name, e in entries.items() if "file_name" in e}


def _resolved(name, raw, tmp_path):
    return validate.entry_for(name, raw, str(tmp_path / "dataset_info.json"))


# -- inference on every format LLaMA-Factory ships ------------------------------------------------
@needs_corpus
@pytest.mark.parametrize("file_name", _corpus_files())
def test_inference_on_every_corpus_format(file_name, tmp_path):
    """Registered files: the inferred entry reads the data exactly as LLaMA-Factory's own entry does, with
    complete tags where it writes tags. v1-engine files (content as a list of parts) are refused with the reason."""
    plan_or_error = None
    try:
        plan_or_error = register.plan(str(DATA / file_name), None, str(tmp_path / "dataset_info.json"), False)
    except Inconsistent as err:
        plan_or_error = err
    registered = _registered()
    if file_name not in registered:
        assert isinstance(plan_or_error, Inconsistent), plan_or_error
        assert "v1 data format" in plan_or_error.render()
        return
    assert not isinstance(plan_or_error, Inconsistent), plan_or_error.render()
    name, theirs = registered[file_name]
    ours = _resolved(name, plan_or_error.entry, tmp_path)
    reference = _resolved(name, theirs, tmp_path)
    assert ours.formatting == reference.formatting
    assert ours.kind == reference.kind
    assert {k: v for k, v in ours.columns.items() if v} == {k: v for k, v in reference.columns.items() if v}
    their_tags = {k: v for k, v in reference.tags.items() if v}
    assert their_tags.items() <= ours.tags.items()
    assert all(ours.tags.values()), "tags must be complete (a partial `tags` object nulls the rest)"


def test_registered_corpus_files_pass_check(corpus):
    """Register LLaMA-Factory's demo files into a fresh registry beside them; `lfgate check` finds no error."""
    data = corpus / "data"
    (data / "dataset_info.json").unlink()
    for name in ("alpaca_zh_demo.json", "glaive_toolcall_en_demo.json", "dpo_en_demo.json", "kto_en_demo.json",
                 "mllm_demo.json", "c4_demo.jsonl"):
        code, out, err = run_cli("register", str(data / name), cwd=corpus)
        assert code == 0, out + err
    entries = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert list(entries) == ["alpaca_zh_demo", "glaive_toolcall_en_demo", "dpo_en_demo", "kto_en_demo",
                             "mllm_demo", "c4_demo"]
    assert entries["alpaca_zh_demo"] == {"file_name": "alpaca_zh_demo.json"}
    _, report = check_json("data/dataset_info.json", cwd=corpus)
    assert [d for d in report["diagnostics"] if d["severity"] == "error"] == []


# -- shapes ----------------------------------------------------------------------------------------
def _infer(records):
    return infer(enumerate(records)).entry


def test_alpaca_without_input_gets_a_complete_columns_mapping():
    # With no `columns`, LLaMA-Factory reads `input` and crashes (KeyError) when no record has it.
    assert _infer([{"instruction": "a", "output": "b"}]) == {
        "columns": {"prompt": "instruction", "response": "output"}}


def test_alpaca_ranking_and_kto():
    assert _infer([{"instruction": "q", "input": "", "chosen": "good", "rejected": "bad"}]) == {
        "ranking": True, "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                     "rejected": "rejected"}}
    assert _infer([{"instruction": "q", "input": "", "output": "a", "kto_tag": False}]) == {
        "columns": {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"}}


def test_openai_style_with_tool_calls_uses_openai_formatting():
    records = [{"messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny"}, {"role": "assistant", "content": "It is sunny."}],
        "tools": "[]"}]
    entry = _infer(records)
    assert entry["formatting"] == "openai"
    assert entry["columns"] == {"messages": "messages", "tools": "tools"}
    assert entry["tags"]["observation_tag"] == "tool" and entry["tags"]["system_tag"] == "system"


def test_sharegpt_defaults_write_only_the_formatting():
    records = [{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"},
                                  {"from": "gpt", "value": "a"}]}]
    assert _infer(records) == {"formatting": "sharegpt"}


def test_media_columns_are_found():
    records = [{"messages": [{"role": "user", "content": "<image><video>?"}, {"role": "assistant", "content": "a"}],
                "image": "1.jpg", "videos": ["1.mp4"]}]
    assert _infer(records)["columns"] == {"messages": "messages", "images": "image", "videos": "videos"}


# -- refusals --------------------------------------------------------------------------------------
def _refusal(records):
    with pytest.raises(Inconsistent) as err:
        infer(enumerate(records))
    return err.value.render()


def test_two_names_for_the_user_role_are_refused_with_the_records():
    msgs = lambda user: [{"from": user, "value": "q"}, {"from": "gpt", "value": "a"}]  # noqa: E731
    records = [{"conversations": msgs("human")}] * 5 + [{"conversations": msgs("user")}] * 2
    text = _refusal(records)
    assert text.splitlines() == ["the records disagree on the role name for user messages:",
                                 "  role 'human': record 0, 1, 2 and 2 more",
                                 "  role 'user': record 5, 6"]


def test_mixed_shapes_and_type_drift_are_refused():
    text = _refusal([{"instruction": "q", "output": "a"}, {"conversations": [{"from": "human", "value": "q"}]}])
    assert "disagree on their shape" in text and "alpaca fields: record 0" in text \
        and "messages list: record 1" in text
    text = _refusal([{"instruction": "q", "output": "a"}, {"instruction": "q", "output": ["a", "b"]}])
    assert "disagree on the type of `output`" in text and "a list: record 1" in text


def test_unknown_role_and_v1_content_are_refused():
    assert "role 'narrator'" in _refusal([{"messages": [{"role": "narrator", "content": "x"}]}])
    assert "v1 data format" in _refusal([{"messages": [{"role": "user", "content": [{"type": "text",
                                                                                        "value": "x"}]}]}])


def test_cli_refusal_exit_code_and_message(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}\n'
                    '{"conversations": [{"from": "user", "value": "q"}, {"from": "gpt", "value": "a"}]}\n',
                    encoding="utf-8")
    code, out, err = run_cli("register", "mixed.jsonl", cwd=tmp_path)
    assert code == 1
    assert "cannot register mixed.jsonl: the records disagree on the role name for user messages" in err
    assert "role 'user': record 1" in err
    assert not (tmp_path / "dataset_info.json").exists()


def test_cli_writes_next_to_the_nearest_registry_and_keeps_others(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    before = '{\n  "other": {\n    "file_name": "other.json"\n  }\n}\n'
    (data / "dataset_info.json").write_text(before, encoding="utf-8")
    (data / "sub" / "qa.json").write_text('[{"question": "q", "answer": "a"}]', encoding="utf-8")
    code, out, err = run_cli("register", "data/sub/qa.json", "--name", "qa", cwd=tmp_path)
    assert code == 0, err
    assert (data / "dataset_info.json").read_text() == before[:-3] + (
        ',\n  "qa": {\n    "file_name": "sub/qa.json",\n    "columns": {\n      "prompt": "question",\n'
        '      "response": "answer"\n    }\n  }\n}\n')
    assert "added entry 'qa'" in out


def test_cli_dry_run_writes_nothing(tmp_path):
    (tmp_path / "a.json").write_text('[{"instruction": "q", "input": "", "output": "a"}]', encoding="utf-8")
    code, out, _ = run_cli("register", "a.json", "--dry-run", cwd=tmp_path)
    assert code == 0 and '"file_name": "a.json"' in out
    assert not (tmp_path / "dataset_info.json").exists()


def test_cli_unreadable_file_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text('[{"instruction": "q",}]', encoding="utf-8")
    code, _, err = run_cli("register", "bad.json", cwd=tmp_path)
    assert code == 1 and "cannot register bad.json: " in err and "bad.json:1" in err


def test_cli_refuses_data_that_check_rejects_unless_forced(tmp_path):
    (tmp_path / "c.jsonl").write_text(
        '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}\n'
        '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"},'
        ' {"from": "human", "value": "dangling"}]}\n', encoding="utf-8")
    code, out, err = run_cli("register", "c.jsonl", cwd=tmp_path)
    assert code == 1 and "not registered: 1 error(s) when sft training reads c.jsonl" in err
    assert "(dataset c, sample 1)" in out
    assert not (tmp_path / "dataset_info.json").exists()
    code, out, err = run_cli("register", "c.jsonl", "--force", cwd=tmp_path)
    assert code == 0 and "added entry 'c' in dataset_info.json" in out
    assert json.loads((tmp_path / "dataset_info.json").read_text()) == {
        "c": {"file_name": "c.jsonl", "formatting": "sharegpt"}}


# -- properties ------------------------------------------------------------------------------------
from hypothesis import assume, given, strategies as st  # noqa: E402

from strategies import projects  # noqa: E402


@given(projects(layouts=("json",)))
def test_inferred_entry_reads_valid_data_exactly_as_the_hand_written_one(project):
    """For any valid project (every formatting x kind), the inferred entry makes LLaMA-Factory's converter produce
    the same aligned samples as the project's own entry, with complete tags if any."""
    from lfgate.validator.converter import align

    registry = "/nonexistent/data/dataset_info.json"
    ours = validate.entry_for(project.name, dict(infer(enumerate(project.records)).entry, file_name="x.json"),
                              registry)
    theirs = validate.entry_for(project.name, dict(project.entry, file_name="x.json"), registry)
    assert ours.kind == theirs.kind
    for record in project.records:
        assert align(record, ours, "/nonexistent").as_dict() == align(record, theirs, "/nonexistent").as_dict()
    if "tags" in ours.raw:
        assert all(ours.tags.values())


_entries = st.dictionaries(st.text(min_size=1, max_size=8),
                           st.fixed_dictionaries({"file_name": st.text(max_size=10)},
                                                 optional={"num_samples": st.integers(0, 9),
                                                           "columns": st.dictionaries(st.text(max_size=5),
                                                                                      st.text(max_size=5),
                                                                                      max_size=2)}),
                           max_size=4)


@given(_entries, st.sampled_from([None, 2, 4, "\t"]), st.text(min_size=1, max_size=8),
       st.booleans())
def test_upsert_changes_only_the_touched_entry(entries, indent, name, ascii_only):
    from lfgate.tools.registry_edit import scan, upsert

    text = json.dumps(entries, indent=indent, ensure_ascii=ascii_only) + "\n"
    new_entry = {"file_name": "new.json", "formatting": "sharegpt"}
    new, action = upsert(text, name, new_entry)
    assert json.loads(new) == {**entries, name: new_entry}
    assert action == ("updated" if name in entries else "added")
    if name in entries:
        member = next(m for m in scan(text).members if m.name == name)
        head, tail = text[:member.value_start], text[member.value_end:]
    else:
        end = scan(text).members[-1].value_end if entries else text.index("{") + 1
        head, tail = text[:end], text[end:]
        if not entries:
            tail = tail[tail.index("}"):]
    assert new.startswith(head) and new.endswith(tail)


_SYNONYM = {"human": "user", "user": "human", "gpt": "assistant", "assistant": "gpt"}


@given(projects(kinds=("sharegpt_sft", "sharegpt_tools", "openai_tags", "multimodal", "sharegpt_kto"),
                layouts=("json",)), st.data())
def test_one_record_with_another_role_name_is_refused_at_that_record(project, data):
    """Rename one role in one record to its synonym (human <-> user, gpt <-> assistant): the records now disagree,
    and the refusal shows that record as the odd one out."""
    records = project.records
    index = data.draw(st.integers(0, len(records) - 1))
    key = "conversations" if "conversations" in records[index] else "messages"
    role_key = "from" if "from" in records[index][key][0] else "role"
    turn = data.draw(st.sampled_from([i for i, m in enumerate(records[index][key]) if m[role_key] in _SYNONYM]))
    old = records[index][key][turn][role_key]
    # another message must keep the old name, else every record still agrees (just on the new name)
    assume(sum(m[role_key] == old for r in records for m in r[key]) > 1)
    records[index][key][turn] = dict(records[index][key][turn], **{role_key: _SYNONYM[old]})
    with pytest.raises(Inconsistent) as err:
        infer(enumerate(records))
    text = err.value.render()
    assert f"role {_SYNONYM[old]!r}: record " in text
    odd_line = next(line for line in text.splitlines() if f"role {_SYNONYM[old]!r}" in line)
    assert f"record {index}" in odd_line or f", {index}" in odd_line


def test_a_record_is_shown_and_counted_once_however_many_messages_disagree():
    two_turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"},
                 {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]
    odd = [{"from": "user", "value": "q"}, {"from": "gpt", "value": "a"}]
    text = _refusal([{"conversations": two_turns}, {"conversations": two_turns}, {"conversations": odd}])
    assert text.splitlines()[1:] == ["  role 'human': record 0, 1", "  role 'user': record 2"]


def test_cli_registers_a_folder_of_files(tmp_path):
    parts = tmp_path / "data" / "chats"
    parts.mkdir(parents=True)
    line = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
    (parts / "a.jsonl").write_text(line, encoding="utf-8")
    (parts / "b.jsonl").write_text(line * 2, encoding="utf-8")
    code, out, err = run_cli("register", "data/chats/", "--dataset-info", "data/dataset_info.json", cwd=tmp_path)
    assert code == 0, err
    assert "data/chats/: 3 records" in out
    entry = json.loads((tmp_path / "data" / "dataset_info.json").read_text())["chats"]
    assert entry["file_name"] == "chats" and entry["formatting"] == "sharegpt"


def test_cli_notes_a_file_registered_under_another_name(tmp_path):
    (tmp_path / "a.json").write_text('[{"instruction": "q", "input": "", "output": "a"}]', encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text('{"old": {"file_name": "a.json"}}', encoding="utf-8")
    code, out, _ = run_cli("register", "a.json", "--name", "new", cwd=tmp_path)
    assert code == 0 and "note: a.json is also registered as 'old'" in out
    assert json.loads((tmp_path / "dataset_info.json").read_text()) == {"old": {"file_name": "a.json"},
                                                                      "new": {"file_name": "a.json"}}
