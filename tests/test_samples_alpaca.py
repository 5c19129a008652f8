"""alpaca sample rules, position-exact (code, sample index, JSON path)."""

from sample_check import codes, severities

HIST = {"columns": {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}}


def ok(**extra):
    return {"instruction": "Add", "input": "1+1", "output": "2", **extra}


def test_valid_alpaca_has_no_findings():
    assert codes({}, [ok(), ok(input="")]) == []
    assert codes(HIST, [ok(history=[["1+1?", "2"]]), ok(history=[]), ok(history=None)]) == []


def test_history_pairs():
    found = codes(HIST, [ok(history=[["a", "b"]]), ok(history=[["a", "b"], ["c", "d", "e"]])])
    assert found == [("DS101", 1, ("history", 1))]
    # a pair of non-strings converts, and the template raises on the content
    assert codes(HIST, [ok(history=[["a", 5]])]) == [("DS004", 0, ("history", 0, 1))]


def test_history_not_a_list_is_ignored_with_a_warning():
    assert codes(HIST, [ok(), ok(history="earlier turns")]) == [("DS102", 1, ("history",))]
    assert severities(HIST, [ok(history={"a": "b"})]) == {"DS102": "warning"}


def test_non_string_instruction_crashes_conversion():
    assert codes({}, [ok(), ok(instruction=["a", "b"])]) == [("DS103", 1, ("instruction",))]
    assert codes({}, [ok(input=5)]) == [("DS103", 0, ("input",))]


def test_null_output_is_dropped_in_sft_rm_kto_but_kept_in_ppo():
    records = [ok(), ok(output=None), ok(output=["x"])]
    assert codes({}, records) == [("DS104", 1, ("output",)), ("DS104", 2, ("output",))]
    assert codes({}, records, stage="ppo") == []
    assert codes({}, [ok(output=None)]) == [("DS104", 0, ("output",)), ("DS003", None, ())]


def test_empty_user_turn_and_empty_response_are_warnings():
    found = codes({}, [ok(instruction="", input=""), ok(output="")])
    assert found == [("DS010", 0, ("instruction",)), ("DS011", 1, ("output",))]
    assert severities({}, [ok(instruction=None, input=None)]) == {"DS010": "warning"}


def test_partial_columns_silently_drop_input():
    # "columns" without "query": LLaMA-Factory ignores `input` entirely (no record lacks a field it reads), so the
    # data-aware DS013 names the first sample whose `input` is lost
    partial = {"columns": {"prompt": "instruction", "response": "output"}}
    assert codes(partial, [ok(input=""), ok(input="Bonjour"), ok(input="Salut")]) == [("DS013", 1, ("input",))]
    assert codes(partial, [ok(input="")]) == []  # nothing lost when every input is empty
    assert codes({"columns": {"prompt": "instruction", "query": "input", "response": "output"}}, [ok()]) == []


def test_field_in_no_record_is_a_keyerror():
    found = codes({}, [{"instruction": "q", "output": "a"}, {"instruction": "q", "output": "b"}])
    assert found == [("DS002", None, ())]
    # a field present in some records only is filled with null by Arrow: fine
    assert codes({}, [{"instruction": "q", "output": "a"}, ok()]) == []


def test_pretraining_text_uses_the_prompt_column():
    entry = {"columns": {"prompt": "text"}}
    assert codes(entry, [{"text": "doc"}, {"text": "more"}]) == []  # text-only data defaults to pt
    assert codes(entry, [{"text": "doc"}, {"text": ""}], stage="pt") == [("DS010", 1, ("text",))]
    assert codes(entry, [{"text": 5}], stage="pt") == [("DS103", 0, ("text",))]
    # the same text trained with sft: one dataset-level finding, not one per sample
    assert codes(entry, [{"text": "doc"}, {"text": "more"}], stage="sft") == [("DS104", None, ())]


def test_pretraining_ignores_responses():
    found = codes({}, [ok(), ok()], stage="pt")
    assert found == [("DS009", 0, ())]
