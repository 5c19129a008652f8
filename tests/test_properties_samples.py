"""Hypothesis properties over the sample validators (SampleChecker in memory, no files but media).

1. Valid samples of every formatting x kind (tests/strategies.py: alpaca sft/pretrain/ranking/KTO, sharegpt with
   tools and function turns, ranking, KTO, OpenAI-style tags, media with files) give no error.
2. One targeted mutation of one record is caught by the rule made for it, at that sample and JSON path.
3. Checking the records in chunks on several checkers and merging them gives what one pass gives.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile

from hypothesis import assume, given, note, strategies as st

import strategies as S
from lfgate.settings import Settings
from lfgate.validator.model import DATA_STAGE, DatasetUsage
from lfgate.validator.samples import SampleChecker
from sample_check import entry_of


def check(project, records, chunks=None):
    """[(code, severity, sample, path)] for the records, with the project's media written under a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        for rel, blob in project.media.items():
            os.makedirs(os.path.dirname(os.path.join(data, rel)), exist_ok=True)
            with open(os.path.join(data, rel), "wb") as f:
                f.write(blob)
        entry = entry_of(project.entry, data)
        usage = DatasetUsage(stage=DATA_STAGE[project.config["stage"]], cutoff_len=project.config.get("cutoff_len"))
        checkers, found = [], []
        for part in chunks or [range(len(records))]:
            checker = SampleChecker(entry, usage, Settings())
            found += [f for i in part for f in checker.check(i, records[i])]
            checkers.append(checker)
        for other in checkers[1:]:
            checkers[0].merge(other)
        found += checkers[0].finish()
    return [(f.rule.code, str(f.severity or f.rule.severity), f.sample, tuple(f.path)) for f in found]


def errors(found):
    return [f for f in found if f[1] == "error"]


@given(S.projects(layouts=("json",)))
def test_valid_samples_give_no_error(project):
    found = check(project, project.records)
    note(json.dumps(project.records, ensure_ascii=False)[:3000])
    assert errors(found) == []


# -- mutations ------------------------------------------------------------------------------------------
def _keys(project):
    cols = project.entry.get("columns", {})
    tags = project.entry.get("tags", {})
    return cols.get("messages", "conversations"), tags.get("role_tag", "from"), tags.get("content_tag", "value")


def _system_first(project, messages, role_tag):
    system_tag = project.entry.get("tags", {}).get("system_tag", "system") if "tags" in project.entry else "system"
    return bool(messages) and system_tag is not None and messages[0].get(role_tag) == system_tag


def options(project, record):
    kind = project.kind
    out = []
    if kind in S.SHAREGPT_KINDS:
        out += ["swap_turns", "change_role", "drop_message", "content_type"]
    if kind in S.KTO_KINDS:
        out.append("kto_tag_string")
    if kind in S.RANKING_KINDS:
        out.append("answer_shape")
    if kind == "alpaca_sft":
        out += ["output_null", "instruction_type"] + (["history_triple"] if record.get("history") else [])
    if kind == "alpaca_pretrain":
        out.append("instruction_type")
    if kind == "sharegpt_tools":
        out.append("tools_as_list")
        if any(m["from"] == "function_call" for m in record["conversations"]):
            out.append("bad_function_call")
    if kind == "multimodal":
        out += ["add_placeholder", "remove_placeholder", "missing_media"]
    return out


@st.composite
def mutations(draw):
    project = draw(S.projects(layouts=("json",)))
    records = copy.deepcopy(project.records)
    i = draw(st.integers(0, len(records) - 1))
    record = records[i]
    mutation = draw(st.sampled_from(options(project, record) or ["none"]))
    assume(mutation != "none")
    col, role_tag, content_tag = _keys(project)
    messages = record.get(col)
    start = 1 if isinstance(messages, list) and _system_first(project, messages, role_tag) else 0
    ranking = project.kind in S.RANKING_KINDS
    if mutation == "swap_turns":
        assume(len(messages) - start >= 2)
        j = draw(st.integers(start, len(messages) - 2))
        assume(messages[j][role_tag] != messages[j + 1][role_tag])
        messages[j], messages[j + 1] = messages[j + 1], messages[j]
        want = {("DS202", (col, j, role_tag))}
    elif mutation == "change_role":
        j = draw(st.integers(start, len(messages) - 1))
        messages[j][role_tag] = draw(st.sampled_from(["bot", "Human", "model", "tool"]))
        want = {("DS201", (col, j, role_tag))}
    elif mutation == "drop_message":
        assume(len(messages) - start >= 1)
        del messages[-1]
        left = len(messages) - start
        want = {("DS007", (col,))} if left == 0 and not ranking else {("DS204", (col,))}
    elif mutation == "content_type":
        j = draw(st.integers(0, len(messages) - 1))
        messages[j][content_tag] = draw(st.sampled_from([5, ["x"], {"text": "x"}, True, 1.5]))
        want = {("DS005", (col, 0, content_tag))} if j == 0 and start else {("DS004", (col, j, content_tag))}
    elif mutation == "kto_tag_string":
        key = project.entry["columns"]["kto_tag"]
        record[key] = draw(st.sampled_from(["true", "false", 1, 0, None]))
        want = {("DS451", (key,))}
    elif mutation == "answer_shape":
        key = draw(st.sampled_from(["chosen", "rejected"]))
        value = record[key]
        record[key] = value["value"] if isinstance(value, dict) else draw(st.sampled_from([["x"], {"t": 1}, 5]))
        want = {("DS401", (key,))}
    elif mutation == "output_null":
        record["output"] = draw(st.sampled_from([None, 5, ["x"]]))
        want = {("DS104", ("output",))}
    elif mutation == "instruction_type":
        key = "text" if project.kind == "alpaca_pretrain" else "instruction"
        record[key] = draw(st.sampled_from([5, ["x"], {"t": 1}, 1.5]))
        want = {("DS103", (key,))}
    elif mutation == "history_triple":
        k = draw(st.integers(0, len(record["history"]) - 1))
        record["history"][k].append("extra")
        want = {("DS101", ("history", k))}
    elif mutation == "tools_as_list":
        record["tools"] = json.loads(record["tools"])
        want = {("DS062", ("tools",))}
    elif mutation == "bad_function_call":
        j = draw(st.sampled_from([k for k, m in enumerate(messages) if m["from"] == "function_call"]))
        messages[j]["value"] = draw(st.sampled_from(["call(x)", '{"name": "f"}', "[1]", ""]))
        want = {("DS061", (col, j, "value"))}
    elif mutation in ("add_placeholder", "remove_placeholder"):
        media_col = draw(st.sampled_from(sorted(c for c in S.PLACEHOLDER if c in record)))
        placeholder = S.PLACEHOLDER[media_col]
        users = [m for m in messages if m["role"] == "user"]
        if mutation == "add_placeholder":
            draw(st.sampled_from(users))["content"] += placeholder
        else:
            target = next(m for m in users if placeholder in m["content"])
            target["content"] = target["content"].replace(placeholder, "", 1)
        want = {("DS501", (media_col,))}
    else:  # missing_media
        media_col = draw(st.sampled_from(sorted(c for c in S.PLACEHOLDER if c in record)))
        k = draw(st.integers(0, len(record[media_col]) - 1))
        record[media_col][k] = "media/not-there.png"
        want = {("DS502", (media_col, k))}
    return project, records, i, mutation, want


@given(mutations())
def test_one_mutation_is_caught_by_its_rule_at_its_sample_and_path(case):
    project, records, i, mutation, want = case
    found = check(project, records)
    note(f"mutation={mutation} sample={i} want={want}")
    note(json.dumps(records[i], ensure_ascii=False)[:2000])
    note(repr(found))
    assert {(code, path) for code, severity, sample, path in found if sample == i and severity == "error"} & want
    # nothing else is wrong: every error is about the mutated sample, or a dataset-level consequence of it
    assert all(sample in (i, None) or code == "DS452" for code, _, sample, _ in errors(found))


@given(S.projects(layouts=("json",)), st.data())
def test_chunked_checking_agrees_with_one_pass(project, data):
    records = project.records
    cut = data.draw(st.integers(0, len(records)))
    chunks = [range(cut, len(records)), range(0, cut)]
    assert sorted(check(project, records), key=repr) == sorted(check(project, records, chunks=chunks), key=repr)


# -- 4. no record, whatever it holds, crashes the checker --------------------------------------------------
ENTRIES = [
    {}, {"columns": {"prompt": "instruction", "query": "input", "response": "output", "history": "history",
                     "system": "system", "tools": "tools", "images": "images", "kto_tag": "label"}},
    {"ranking": True, "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}},
    {"formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools", "system": "system",
                                           "videos": "videos"}},
    {"formatting": "sharegpt", "ranking": True, "columns": {"messages": "conversations", "chosen": "chosen",
                                                            "rejected": "rejected"}},
    {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label", "images": "images"},
     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
    {"formatting": "openai", "columns": {"messages": "messages", "tools": "tools", "system": "system"},
     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
              "system_tag": "system", "observation_tag": "tool", "function_tag": "function"}},
    {"formatting": "ShareGPT"}, {"formatting": "sharegpt", "columns": {"images": "images"}},
]
_field_names = st.sampled_from(["instruction", "input", "output", "history", "system", "tools", "images", "videos",
                         "label", "chosen", "rejected", "conversations", "messages", "from", "value", "role",
                         "content", "tool_calls", "function"])
_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(
    ["", "human", "gpt", "user", "assistant", "tool", "system", "<image>", "<video>", "a.png", "[]", "{}",
     '{"name": "f", "arguments": {}}', "https://x/y.png"])
_values = st.recursive(_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(_field_names, c, max_size=5),
                       max_leaves=25)


@given(st.sampled_from(ENTRIES), st.sampled_from(["pt", "sft", "rm", "ppo", "kto", None]),
       st.lists(st.dictionaries(_field_names, _values, max_size=6) | _values, min_size=1, max_size=5),
       st.sampled_from([None, "qwen", "glm4", "phi4_mini"]))
def test_no_record_crashes_the_checker(raw, stage, records, template):
    entry = entry_of(raw, tempfile.gettempdir())
    checker = SampleChecker(entry, DatasetUsage(stage=stage, template=template, cutoff_len=16), Settings())
    for i, record in enumerate(records):
        for finding in checker.check(i, record):
            assert finding.sample == i and isinstance(finding.message, str) and isinstance(finding.path, tuple)
    for finding in checker.finish():
        assert finding.sample is None or 0 <= finding.sample < len(records)
    checker.facts()
