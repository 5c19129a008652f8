"""lfgate.validator.converter: LLaMA-Factory's converter, emulated. Hand-written expectations for each format,
the corpus, and (when a Python with the real llamafactory is available) a record-by-record comparison with
LLaMA-Factory's own converter run through datasets/Arrow, as in training."""

import json
import os
import pathlib
import subprocess

import pytest

from conftest import CORPUS, ROOT, oracle_missing
from lfgate.validator.converter import ConversionError, align, kept_by_stage, stage_messages
from lfgate.validator.dataset_info import resolve_entry
from lfgate.validator.model import Registry

LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))


def entry_of(raw, dataset_dir="."):
    raw = {"file_name": "x.json", **raw}
    return resolve_entry("x", raw, Registry(path=os.path.join(dataset_dir, "dataset_info.json"),
                                            dataset_dir=dataset_dir))


def conv(*pairs, key=("from", "value")):
    return [{key[0]: r, key[1]: c} for r, c in pairs]


def msgs(*pairs):
    return conv(*pairs, key=("role", "content"))


OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system", "observation_tag": "tool", "function_tag": "function"}
README_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
SG = {"formatting": "sharegpt"}
OA = {"formatting": "openai", "columns": {"messages": "messages", "tools": "tools", "system": "system"},
      "tags": OPENAI_TAGS}
CALL = {"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}

# (name, entry, records): each is run through lfgate's align and, when available, LLaMA-Factory's converter.
CASES = [
    ("alpaca-basic", {}, [{"instruction": "Add", "input": "1+1", "output": "2"},
                          {"instruction": "Hi", "input": None, "output": "Hello"}]),
    ("alpaca-empty-and-null-output", {}, [{"instruction": "", "input": "", "output": None},
                                          {"instruction": "x", "input": "", "output": "y"}]),
    ("alpaca-history-system", {"columns": {"prompt": "instruction", "query": "input", "response": "output",
                                           "history": "history", "system": "system"}},
     [{"instruction": "3+3?", "input": "", "output": "6", "history": [["1+1?", "2"], ["2+2?", "4"]],
       "system": "Be brief."},
      {"instruction": "q", "input": "", "output": "a", "history": None, "system": None}]),
    ("alpaca-history-triple", {"columns": {"prompt": "instruction", "response": "output", "history": "history"}},
     [{"instruction": "q", "output": "a", "history": [["1", "2", "3"]]}]),
    ("alpaca-history-string-ignored", {"columns": {"prompt": "instruction", "response": "output",
                                                   "history": "history"}},
     [{"instruction": "q", "output": "a", "history": "earlier"}]),
    ("alpaca-partial-columns-drop-input", {"columns": {"prompt": "instruction", "response": "output"}},
     [{"instruction": "Add", "input": "1+1", "output": "2"}]),
    ("alpaca-ranking", {"ranking": True, "columns": {"prompt": "instruction", "query": "input",
                                                     "chosen": "chosen", "rejected": "rejected"}},
     [{"instruction": "q", "input": "", "chosen": "good", "rejected": "bad"}]),
    ("alpaca-ranking-no-chosen-column", {"ranking": True}, [{"instruction": "q", "input": "", "output": "a"}]),
    ("alpaca-kto", {"columns": {"prompt": "instruction", "response": "output", "kto_tag": "tag"}},
     [{"instruction": "q", "output": "a", "tag": True}, {"instruction": "q", "output": "b", "tag": False},
      {"instruction": "q", "output": "c", "tag": None}]),
    ("alpaca-kto-string-tag", {"columns": {"prompt": "instruction", "response": "output", "kto_tag": "tag"}},
     [{"instruction": "q", "output": "a", "tag": "true"}]),
    ("alpaca-pretrain-text", {"columns": {"prompt": "text"}}, [{"text": "A document."}]),
    ("sharegpt-basic", SG, [{"conversations": conv(("human", "hi"), ("gpt", "yo"), ("human", "a"), ("gpt", "b"))}]),
    ("sharegpt-leading-system-wins", {**SG, "columns": {"messages": "conversations", "system": "system"}},
     [{"conversations": conv(("system", "S1"), ("human", "hi"), ("gpt", "yo")), "system": "S2"},
      {"conversations": conv(("human", "hi"), ("gpt", "yo")), "system": "S2"}]),
    ("sharegpt-broken", SG, [
        {"conversations": conv(("gpt", "yo"), ("human", "hi"))},
        {"conversations": conv(("human", "hi"), ("gpt", "yo"), ("human", "again"))},
        {"conversations": conv(("human", "hi"), ("bot", "yo"))},
        {"conversations": conv(("human", "hi"), ("gpt", "yo"), ("system", "late"), ("gpt", "x"))},
        {"conversations": []}]),
    ("sharegpt-tools", {**SG, "columns": {"messages": "conversations", "tools": "tools"}},
     [{"conversations": conv(("human", "1+1"), ("function_call", '{"name": "add", "arguments": {}}'),
                             ("observation", "2"), ("gpt", "2")), "tools": "[]"}]),
    ("sharegpt-readme-openai-tags-system-dropped", {**SG, "columns": {"messages": "messages"},
                                                    "tags": README_TAGS},
     [{"messages": msgs(("system", "S"), ("user", "hi"), ("assistant", "yo"))},
      {"messages": msgs(("user", "hi"), ("assistant", "yo"))}]),
    ("sharegpt-none-tag-pitfall", {**SG, "columns": {"messages": "messages"}, "tags": README_TAGS},
     [{"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo"}]},
      {"messages": msgs(("user", "hi"), ("assistant", "yo"))}]),
    ("sharegpt-ranking", {**SG, "ranking": True, "columns": {"messages": "conversations", "chosen": "chosen",
                                                              "rejected": "rejected"}},
     [{"conversations": conv(("human", "q")), "chosen": {"from": "gpt", "value": "good"},
       "rejected": {"from": "gpt", "value": "bad"}},
      {"conversations": conv(("human", "q")), "chosen": {"from": "human", "value": "good"},
       "rejected": {"from": "gpt", "value": "bad"}},
      {"conversations": conv(("human", "q"), ("gpt", "a")), "chosen": {"from": "gpt", "value": "good"},
       "rejected": {"from": "gpt", "value": "bad"}}]),
    ("sharegpt-ranking-unknown-role", {**SG, "ranking": True, "columns": {
        "messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
     [{"conversations": conv(("human", "q")), "chosen": {"from": "bot", "value": "good"},
       "rejected": {"from": "gpt", "value": "bad"}}]),
    ("sharegpt-ranking-strings", {**SG, "ranking": True, "columns": {
        "messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
     [{"conversations": conv(("human", "q")), "chosen": "good", "rejected": "bad"}]),
    ("sharegpt-kto", {**SG, "columns": {"messages": "messages", "kto_tag": "label"}, "tags": README_TAGS},
     [{"messages": msgs(("user", "hi"), ("assistant", "yo")), "label": True},
      {"messages": msgs(("user", "hi"), ("assistant", "no")), "label": False},
      {"messages": msgs(("assistant", "no"), ("user", "hi")), "label": False}]),
    ("openai-basic-and-rewrite", OA, [
        {"messages": msgs(("user", "hi"), ("assistant", "yo"))},
        {"messages": msgs(("system", "Be brief."), ("user", "hi"), ("assistant", "yo"))},
        {"messages": msgs(("system", "detailed thinking on"), ("user", "hi"), ("assistant", "yo"))}]),
    ("openai-tool-calls", OA, [
        {"messages": [{"role": "user", "content": "1+1?"},
                      {"role": "assistant", "content": "", "tool_calls": [CALL]},
                      {"role": "tool", "content": "2"}, {"role": "tool", "content": "2 again"},
                      {"role": "assistant", "content": "2"}],
         "tools": [{"type": "function", "function": {"name": "add", "parameters": {}}}], "system": "S"}]),
    ("openai-trailing-tools", OA, [
        {"messages": [{"role": "user", "content": "1+1?"},
                      {"role": "assistant", "content": "", "tool_calls": [CALL]},
                      {"role": "tool", "content": "2"}]}]),
    ("openai-unknown-role", OA, [{"messages": msgs(("developer", "x"), ("user", "hi"), ("assistant", "yo"))}]),
    ("alpaca-system-and-tools-pass-through", {"columns": {"prompt": "instruction", "response": "output",
                                                          "system": "system", "tools": "tools"}},
     [{"instruction": "q", "output": "a", "system": 5, "tools": [{"name": "f"}]}]),
    ("sharegpt-missing-content-key", SG, [{"conversations": [{"from": "human"}, {"from": "gpt", "value": "yo"}]}]),
    ("sharegpt-kto-null-tag", {**SG, "columns": {"messages": "conversations", "kto_tag": "label"}},
     [{"conversations": conv(("human", "hi"), ("gpt", "yo")), "label": None},
      {"conversations": conv(("human", "hi"), ("gpt", "yo")), "label": True}]),
    ("openai-system-column-missing-in-a-row", OA, [
        {"messages": msgs(("user", "hi"), ("assistant", "yo")), "system": "S"},
        {"messages": msgs(("user", "hi"), ("assistant", "yo"))}]),
    ("openai-ranking", {**OA, "ranking": True, "columns": {"messages": "messages", "chosen": "c", "rejected": "r"}},
     [{"messages": msgs(("user", "q")), "c": {"role": "assistant", "content": "good"},
       "r": {"role": "user", "content": "bad"}}]),
    ("openai-readme-tags-tool-calls", {**OA, "tags": README_TAGS}, [
        {"messages": [{"role": "user", "content": "1+1?"},
                      {"role": "assistant", "content": "", "tool_calls": [CALL]},
                      {"role": "assistant", "content": "2"}]}]),
]


def media_cases(data_dir: pathlib.Path):
    (data_dir / "img").mkdir(parents=True, exist_ok=True)
    for name in ("a.png", "b.png", "f1.png", "f2.png"):
        (data_dir / "img" / name).write_text("x")
    entry = {**SG, "columns": {"messages": "messages", "images": "images", "videos": "videos"},
             "tags": README_TAGS}
    chat = msgs(("user", "<image>hi"), ("assistant", "yo"))
    return [("media", entry, [
        {"messages": chat, "images": ["img/a.png", "img/missing.png"], "videos": None},
        {"messages": chat, "images": [], "videos": [["img/f1.png", "img/f2.png"]]},
        {"messages": chat, "images": [str(data_dir / "img" / "b.png")], "videos": None}]),
        ("media", entry, [{"messages": chat, "images": "img/a.png", "videos": None},
                          {"messages": chat, "images": "img/nope.png", "videos": None}])]


def corpus_cases():
    if not CORPUS.is_dir():
        return []
    data = CORPUS / "data"
    info = json.loads((data / "dataset_info.json").read_text())
    cases = []
    for name, raw in info.items():
        path = data / raw.get("file_name", "-")
        if set(raw) & {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url"} or not path.is_file():
            continue
        if path.suffix == ".json":
            records = json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            continue
        cases.append((f"corpus-{name}", raw, records))
    return cases


def run_lfgate(entry_raw, records, media_dir):
    entry = entry_of(entry_raw, media_dir)
    out = []
    for record in records:
        try:
            out.append({"ok": align(record, entry, media_dir).as_dict()})
        except ConversionError as err:
            out.append({"error": err.raises})
    return out


# -- hand-written expectations ---------------------------------------------------------------------------------

def one(entry_raw, record, media_dir="."):
    return align(record, entry_of(entry_raw, media_dir), media_dir)


def test_alpaca_joins_instruction_and_input_and_keeps_history_turns():
    a = one({"columns": {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}},
            {"instruction": "3+3?", "input": "quick", "output": "6", "history": [["1+1?", "2"]]})
    assert a.prompt == [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
                        {"role": "user", "content": "3+3?\nquick"}]
    assert a.response == [{"role": "assistant", "content": "6"}]
    assert a.sources == [("history", 0, 0), ("history", 0, 1), ("instruction",), ("output",)]
    assert kept_by_stage(a, "sft") and not kept_by_stage(a, "rm")


def test_alpaca_null_output_is_unsupervised_kept_only_by_ppo():
    a = one({}, {"instruction": "q", "input": "", "output": None})
    assert a.response == [] and a.prompt == [{"role": "user", "content": "q"}]
    assert [kept_by_stage(a, s) for s in ("sft", "rm", "kto", "ppo", "pt")] == [False, False, False, True, True]


def test_alpaca_history_triple_raises_like_llamafactory():
    with pytest.raises(ConversionError) as err:
        one({"columns": {"prompt": "instruction", "response": "output", "history": "h"}},
            {"instruction": "q", "output": "a", "h": [["1", "2", "3"]]})
    assert err.value.path == ("h", 0) and "too many values to unpack" in err.value.raises


def test_alpaca_kto_only_real_booleans_count():
    entry = {"columns": {"prompt": "instruction", "response": "output", "kto_tag": "tag"}}
    true = one(entry, {"instruction": "q", "output": "a", "tag": True})
    false = one(entry, {"instruction": "q", "output": "a", "tag": False})
    text = one(entry, {"instruction": "q", "output": "a", "tag": "true"})
    assert true.response == [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": ""}]
    assert false.response == [{"role": "assistant", "content": ""}, {"role": "assistant", "content": "a"}]
    assert text.response == [{"role": "assistant", "content": "a"}]
    assert kept_by_stage(true, "kto") and not kept_by_stage(text, "kto") and not kept_by_stage(true, "sft")


def test_sharegpt_leading_system_overrides_column_and_alternation_breaks():
    entry = {**SG, "columns": {"messages": "conversations", "system": "system"}}
    a = one(entry, {"conversations": conv(("system", "S1"), ("human", "hi"), ("gpt", "yo")), "system": "S2"})
    assert a.system == "S1" and a.prompt == [{"role": "user", "content": "hi"}] and not a.broken
    assert a.sources == [("conversations", 1, "value"), ("conversations", 2, "value")]
    b = one(entry, {"conversations": conv(("human", "hi"), ("human", "again"), ("gpt", "yo")), "system": None})
    assert b.broken and b.prompt == [] and b.response == []
    assert [p.kind for p in b.problems] == ["role", "count"]
    assert b.problems[0].path == ("conversations", 1, "from")


def test_sharegpt_partial_tags_drop_a_system_message():
    a = one({**SG, "columns": {"messages": "messages"}, "tags": README_TAGS},
            {"messages": msgs(("system", "S"), ("user", "hi"), ("assistant", "yo"))})
    assert a.broken and a.problems[0].path == ("messages", 0, "role") and a.problems[0].detail == ("system", 0)


def test_sharegpt_none_tag_pitfall_maps_a_roleless_message_to_system():
    a = one({**SG, "columns": {"messages": "messages"}, "tags": README_TAGS},
            {"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo"}]})
    assert not a.broken and a.prompt == [{"role": "system", "content": "hi"}]


def test_sharegpt_ranking_human_answer_is_kept_and_unknown_role_raises():
    entry = {**SG, "ranking": True, "columns": {"messages": "conversations", "chosen": "c", "rejected": "r"}}
    a = one(entry, {"conversations": conv(("human", "q")), "c": {"from": "human", "value": "good"},
                    "r": {"from": "gpt", "value": "bad"}})
    assert a.response[0] == {"role": "user", "content": "good"} and kept_by_stage(a, "rm")
    assert [(p.kind, p.path) for p in a.problems] == [("ranking-role", ("c", "from"))]
    with pytest.raises(ConversionError) as err:
        one(entry, {"conversations": conv(("human", "q")), "c": {"from": "bot", "value": "good"},
                    "r": {"from": "gpt", "value": "bad"}})
    assert err.value.raises == "KeyError: 'bot'" and err.value.path == ("c", "from")


def test_openai_merges_tool_results_rewrites_system_and_drops_trailing_tools():
    a = one(OA, {"messages": [{"role": "user", "content": "1+1?"},
                              {"role": "assistant", "content": "", "tool_calls": [CALL]},
                              {"role": "tool", "content": "2"}, {"role": "tool", "content": "3"},
                              {"role": "assistant", "content": "2"}], "system": "S"})
    assert a.prompt[1] == {"role": "function", "content": json.dumps([CALL["function"]])}
    assert a.prompt[2] == {"role": "observation", "content": "2\n</tool_response>\n<tool_response>\n3"}
    assert a.system == "S\ndetailed thinking off"
    b = one(OA, {"messages": [{"role": "user", "content": "1+1?"},
                              {"role": "assistant", "content": "", "tool_calls": [CALL]},
                              {"role": "tool", "content": "2"}]})
    assert ("trailing-tools", ("messages", 2)) in [(p.kind, p.path) for p in b.problems]
    assert b.prompt == [{"role": "user", "content": "1+1?"}] and b.system == "detailed thinking off"
    with pytest.raises(ConversionError) as err:
        one(OA, {"messages": msgs(("developer", "x"), ("user", "hi"), ("assistant", "yo"))})
    assert err.value.raises == "KeyError: 'developer'" and err.value.path == ("messages", 0, "role")


def test_media_are_resolved_against_media_dir(tmp_path):
    (_, entry, records), _ = media_cases(tmp_path)
    a = align(records[0], entry_of(entry, str(tmp_path)), str(tmp_path))
    assert a.images == [os.path.join(str(tmp_path), "img/a.png"), "img/missing.png"]
    assert [(p.kind, p.path, p.detail) for p in a.problems] == [("media-missing", ("images", 1), "img/missing.png")]
    b = align(records[1], entry_of(entry, str(tmp_path)), str(tmp_path))
    assert b.images is None and b.videos == [[os.path.join(str(tmp_path), "img/f1.png"),
                                             os.path.join(str(tmp_path), "img/f2.png")]]


def test_stage_messages_follow_each_processor():
    a = one({"ranking": True, "columns": {"prompt": "instruction", "chosen": "c", "rejected": "r"}},
            {"instruction": "<image>q", "c": "good", "r": "bad"})
    rm = stage_messages(a, "rm")
    assert [[m["content"] for m in msgs_] for msgs_, _ in rm] == [["<image>q", "good"], ["<image>q", "bad"]]
    kto = one({"columns": {"prompt": "instruction", "response": "output", "kto_tag": "t"}},
              {"instruction": "q", "output": "", "t": True})
    assert [m["content"] for m in stage_messages(kto, "kto")[0][0]] == ["q", ""]


def test_corpus_records_all_convert_without_breaking():
    for name, raw, records in corpus_cases():
        entry = entry_of(raw, str(CORPUS / "data"))
        for record in records:
            a = align(record, entry, str(CORPUS / "data"))
            assert not a.broken, (name, record)
            assert not [p for p in a.problems if p.kind == "media-missing"], (name, a.problems)


# -- LLaMA-Factory itself as the oracle ---------------------------------------------------------------------

@pytest.mark.llamafactory
def test_align_matches_llamafactory_record_by_record(tmp_path):
    if not os.path.exists(LF_PYTHON):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    cases = CASES + media_cases(tmp_path / "data") + corpus_cases()
    payload = []
    for name, entry, records in cases:
        media_dir = str(tmp_path / "data") if name == "media" else str(CORPUS / "data")
        payload.append({"entry": entry, "records": records, "media_dir": media_dir})
    proc = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_oracle.py")], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    if proc.returncode != 0 and "No module named" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = json.loads(proc.stdout)
    for (name, entry, records), want, case in zip(cases, expected, payload):
        assert not isinstance(want, dict), (name, want)
        got = json.loads(json.dumps(run_lfgate(entry, records, case["media_dir"]), default=str))
        for i, (g, w) in enumerate(zip(got, want)):
            if "error" in w:
                assert "error" in g, (name, i, w, g)
                assert g["error"].split(":")[0] == w["error"].split(":")[0], (name, i, w, g)
            else:
                assert g == w, (name, i)
