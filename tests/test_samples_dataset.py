"""The SampleChecker as the dataset layer uses it: merging worker chunks, pickling, facts, the cutoff_len
estimate, format inference, and positions through `lfgate check`."""

import json
import pickle

import pytest

from conftest import write_project
from helpers import check_json, find
from lfgate.settings import Settings
from lfgate.validator.model import DatasetUsage
from lfgate.validator.samples import SampleChecker, infer_entry
from sample_check import codes, entry_of, run

SG = {"formatting": "sharegpt"}


def c(*pairs):
    return {"conversations": [{"from": r, "value": v} for r, v in pairs]}


CHAT = c(("human", "hi"), ("gpt", "yo"))


def test_chunked_and_merged_checking_equals_one_pass():
    records = [CHAT, c(("user", "a"), ("gpt", "b")), {"conversations": []}, CHAT, c(("human", "a"))] * 7
    whole = sorted(codes(SG, records), key=repr)
    chunked = sorted(codes(SG, records, chunks=[range(20, 35), range(0, 10), range(10, 20)]), key=repr)
    assert whole == chunked
    _, a = run(SG, records)
    _, b = run(SG, records, chunks=[range(0, 17), range(17, 35)])
    assert a.facts() == b.facts()


def test_checker_and_findings_pickle_for_worker_processes():
    checker = SampleChecker(entry_of(SG), DatasetUsage(stage="sft"), Settings())
    findings = checker.check(0, c(("gpt", "a"), ("human", "b")))
    clone = pickle.loads(pickle.dumps(checker))
    clone.check(1, CHAT)
    checker.merge(clone)
    again = pickle.loads(pickle.dumps(findings))
    assert [(f.rule.code, f.sample, f.path) for f in again] == [("DS202", 0, ("conversations", 0, "from"))]
    assert again[0].rule is findings[0].rule
    assert len(pickle.dumps(findings[0])) < 400  # the rule travels as its code


def test_facts_count_kept_and_dropped_per_stage():
    records = [CHAT, c(("gpt", "a"), ("human", "b")), {"conversations": "x"}]
    _, checker = run(SG, records)
    facts = checker.facts()
    assert (facts.samples, facts.kept, facts.dropped, facts.crashed) == (3, 1, 1, 1)
    assert facts.stage == "sft" and facts.formatting == "sharegpt" and not facts.has_media


def test_truncation_counts_samples_over_cutoff_and_those_losing_a_response():
    records = [c(("human", "q" * 60), ("gpt", "a" * 600)), CHAT, c(("human", "q" * 600), ("gpt", "a" * 6))]
    findings, checker = run(SG, records, cutoff_len=50)
    truncation = checker.facts().truncation
    assert truncation is not None
    # a long response is cut; a long prompt with a short answer loses prompt tokens only
    assert (truncation["exceeding"], truncation["response_cut"], truncation["prompt_only"]) == (2, 1, 1)
    assert [(f.rule.code, str(f.rule.severity)) for f in findings] == [("DS012", "info")]
    assert run(SG, records, cutoff_len=None)[1].facts().truncation is None


def test_infer_entry_from_content(tmp_path):
    path = str(tmp_path / "x.jsonl")
    entry, note = infer_entry([{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                                             {"role": "assistant", "content": "b"}]}], path)
    assert entry.formatting == "sharegpt" and entry.columns["messages"] == "messages"
    assert entry.tags["role_tag"] == "role" and entry.tags["system_tag"] == "system"
    assert "OpenAI-style" in note and entry.load_from == "file" and entry.dataset_dir == str(tmp_path)
    entry, _ = infer_entry([{"messages": [{"role": "user", "content": "a"},
                                          {"role": "assistant", "content": "",
                                           "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]}], path)
    assert entry.formatting == "openai" and entry.tags["observation_tag"] == "tool"
    entry, note = infer_entry([CHAT], path)
    assert entry.formatting == "sharegpt" and entry.tags["role_tag"] == "from" and "from/value" in note
    entry, _ = infer_entry([{"instruction": "q", "input": "", "output": "a", "history": []}], path)
    assert entry.formatting == "alpaca" and entry.columns["history"] == "history"
    entry, note = infer_entry([{"text": "doc"}], path)
    assert entry.columns["prompt"] == "text" and entry.columns["response"] is None and "pretraining" in note
    entry, _ = infer_entry([{**CHAT, "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt",
                                                                                           "value": "b"}}], path)
    assert entry.ranking is True and entry.columns["chosen"] == "chosen"
    entry, note = infer_entry([{**CHAT, "label": True}, {**CHAT, "images": ["a.png"], "label": False}], path)
    assert entry.columns["kto_tag"] == "label" and entry.columns["images"] == "images" and "KTO" in note


def test_inferred_entries_check_their_own_records_cleanly(tmp_path):
    samples = [
        [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}],
        [CHAT], [{"instruction": "q", "input": "", "output": "a"}], [{"text": "doc"}],
        [{"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
          "rejected": {"from": "gpt", "value": "b"}}],
    ]
    for records in samples:
        entry, _ = infer_entry(records, str(tmp_path / "x.json"))
        checker = SampleChecker(entry, DatasetUsage(), Settings())
        findings = [f for i, r in enumerate(records) for f in checker.check(i, r)] + checker.finish()
        assert [f.rule.code for f in findings if str(f.rule.severity) == "error"] == [], records


def test_positions_through_lfgate_check(tmp_path):
    records = [CHAT, c(("human", "a"), ("gpt", "b"), ("gpt", "c"), ("human", "d"))]
    text = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.json",
                                                                         "formatting": "sharegpt"}}),
                             "data/a.json": text})
    _, report = check_json(".", cwd=tmp_path)
    (d,) = find(report, "DS202")
    assert (d["file"], d["sample"], d["dataset"], d["line"]) == ("data/a.json", 1, "a", 3)
    # the column of the third message's "from" value on that line
    line = text.splitlines()[2]
    assert d["column"] == line.index('"gpt", "value": "c"') + 1


def test_stage_judging_the_samples():
    from lfgate.validator.samples import effective_stage

    def stage(raw, usage_stage=None):
        return effective_stage(entry_of(raw), DatasetUsage(stage=usage_stage))

    assert stage({}) == "sft" and stage({"columns": {"prompt": "text"}}) == "pt"
    assert stage({"ranking": True, "columns": {"prompt": "instruction", "chosen": "c", "rejected": "r"}}) == "rm"
    assert stage({"columns": {"prompt": "instruction", "response": "output", "kto_tag": "t"}}) == "kto"
    assert stage({}, "ppo") == "ppo" and stage({}, "pt") == "pt"
    # LLaMA-Factory's ranking gate rejects these outright (a link rule says so): judge for the data's own stage
    assert stage({}, "rm") == "sft"
    assert stage({"ranking": True, "columns": {"prompt": "instruction", "chosen": "c", "rejected": "r"}}, "sft") == "rm"


def test_pretraining_a_broken_conversation_crashes():
    found = codes(SG, [CHAT, c(("gpt", "a"), ("human", "b"))], stage="pt")
    assert ("DS008", 1, ("conversations", 0, "from")) in found
    assert ("DS009", 0, ()) in found  # and the responses are not trained on


def _facts_and_state(checker):
    def shown(value):
        return (value.counts, value.first) if hasattr(value, "first") else value  # a Tally: its contents

    per_worker = ("cache", "images", "prev", "_counter", "_bytes")  # caches and the batch walk's last sample are not merged
    states = {kind.__name__: repr(sorted((k, repr(shown(v))) for k, v in vars(state).items() if k not in per_worker))
              for kind, state in checker.states.items()}
    return checker.facts(), (checker.total, checker.kept, checker.crashed, checker.max_index), states


def test_merge_adds_up_every_state_so_chunks_equal_one_pass():
    raw = {"formatting": "sharegpt", "columns": {"messages": "conversations", "images": "images"}}
    records = [CHAT, {"conversations": [{"from": "human", "value": "<image>hi"}, {"from": "gpt", "value": ""}],
                      "images": ["a.png"]}, {"conversations": "x"}, CHAT, {"conversations": [{"from": "robot"}]}]
    _, whole = run(raw, records, cutoff_len=2)
    _, merged = run(raw, records, cutoff_len=2, chunks=[range(0, 2), range(2, 5)])
    assert len(whole.states) >= 6
    assert _facts_and_state(merged) == _facts_and_state(whole)


def test_a_dataset_rule_state_must_merge():
    """A dataset-level rule's state is added up across worker processes: one without its own merge is refused when
    it is registered, not left at one worker's value."""
    from lfgate.validator.samples.base import KEPT, State, dataset_check

    class Unmerged(State):
        def add(self, c, s):
            pass

    with pytest.raises(TypeError, match="Unmerged"):
        dataset_check(KEPT)(Unmerged)


def test_a_response_that_repeats_the_user_turn_is_flagged_per_sample():
    """DS014: the response is the last user turn again, up to white space; a different case, an answer that only
    contains the question, an earlier turn, or another stage than sft are not repeats."""
    records = [c(("human", "What is 2+2?"), ("gpt", " What is\n2+2? ")), c(("human", "What is 2+2?"), ("gpt", "4")),
               c(("human", "hi"), ("gpt", "HI")), c(("human", "Say: yes"), ("gpt", "Say: yes. Yes")),
               c(("human", "hi"), ("gpt", "hi"), ("human", "and?"), ("gpt", "more"))]
    found = [f for f in codes(SG, records) if f[0] == "DS014"]
    assert found == [("DS014", 0, ("conversations", 1, "value"))]
    assert not [f for f in codes(SG, records[:1], stage="ppo") if f[0] == "DS014"]
    alpaca = [{"instruction": "Translate", "input": "Bonjour", "output": "Translate\nBonjour"},
              {"instruction": "Translate", "input": "Bonjour", "output": "Hello"}]
    assert [f for f in codes({}, alpaca) if f[0] == "DS014"] == [("DS014", 0, ("output",))]
