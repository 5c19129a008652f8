"""Ranking and KTO sample rules, position-exact; the KTO batch crash across merged worker chunks."""

from sample_check import codes, severities

RANK = {"formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
ARANK = {"ranking": True, "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                      "rejected": "rejected"}}
KTO = {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
       "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}


def pair(chosen=("gpt", "good"), rejected=("gpt", "bad"), prompt=(("human", "q"),)):
    def msg(x):
        return {"from": x[0], "value": x[1]} if isinstance(x, tuple) else x
    return {"conversations": [{"from": r, "value": v} for r, v in prompt], "chosen": msg(chosen),
            "rejected": msg(rejected)}


def kto(label, answer="yo", first="user"):
    return {"messages": [{"role": first, "content": "hi"},
                         {"role": "assistant" if first == "user" else "user", "content": answer}], "label": label}


def test_valid_ranking_samples():
    assert codes(RANK, [pair(), pair(prompt=(("human", "a"), ("gpt", "b"), ("human", "c")))]) == []
    assert codes(ARANK, [{"instruction": "q", "input": "", "chosen": "good", "rejected": "bad"}]) == []
    # a function-call answer is accepted (role function)
    assert codes(RANK, [pair(chosen=("function_call", '{"name": "f", "arguments": {}}'))]) == []


def test_ranking_answers_must_be_message_objects_or_strings():
    assert codes(RANK, [pair(), pair(chosen="good")])[0] == ("DS401", 1, ("chosen",))
    assert codes(ARANK, [{"instruction": "q", "input": "", "chosen": "a", "rejected": "b"},
                         {"instruction": "q", "input": "", "chosen": "a", "rejected": ["b"]}]) == \
        [("DS401", 1, ("rejected",))]


def test_ranking_prompt_needs_an_odd_count():
    found = codes(RANK, [pair(), pair(prompt=(("human", "a"), ("gpt", "b")))])
    assert found == [("DS204", 1, ("conversations",))]


def test_human_answer_is_kept_and_trained_as_user():
    found = codes(RANK, [pair(chosen=("human", "good"))])
    assert found == [("DS402", 0, ("chosen", "from"))]
    assert severities(RANK, [pair(chosen=("human", "good"))]) == {"DS402": "warning"}


def test_unknown_answer_role_crashes():
    assert codes(RANK, [pair(), pair(rejected=("bot", "bad"))]) == [("DS403", 1, ("rejected", "from"))]


def test_valid_kto():
    assert codes(KTO, [kto(True), kto(False, "no")]) == []


def test_kto_tag_must_be_a_boolean():
    found = codes(KTO, [kto(True), kto(False, "no"), kto("true"), kto(1), kto(None)], stage="kto")
    assert [f for f in found if f[0] == "DS451"] == [("DS451", i, ("label",)) for i in (2, 3, 4)]
    # outside the kto stage the sample is a normal one: still suspicious, a warning
    assert severities(KTO, [kto("true")], stage="ppo")["DS451"] == "warning"


def test_kto_data_in_sft_is_dropped_entirely_one_finding():
    found = codes(KTO, [kto(True), kto(False, "no"), kto(True)], stage="sft")
    assert found == [("DS453", 0, ("label",)), ("DS003", None, ())]


def test_kto_one_preference_type_and_empty_desirable():
    assert codes(KTO, [kto(True), kto(True, "hey")]) == [("DS454", None, ())]
    found = codes(KTO, [kto(True, ""), kto(False, "no")])
    assert found[0] == ("DS455", 0, ("messages", 1, "content"))


def test_kto_batch_crash_needs_a_broken_sample_before_a_valid_one_in_the_same_batch():
    broken = kto(True, first="assistant")  # bad alternation: blanked
    assert ("DS452", 1, ()) in codes(KTO, [kto(False, "no"), broken, kto(True)])
    # cyclic: the first sample of the batch follows its last
    assert ("DS452", 2, ()) in codes(KTO, [kto(True), kto(False, "no"), broken])
    # a dropped sample with a non-empty single response is harmless to its neighbour
    found = codes(KTO, [kto(True), kto(False, "no"), kto("yes", "text")])
    assert "DS452" not in {f[0] for f in found}
    # but an empty one is not
    assert "DS452" in {f[0] for f in codes(KTO, [kto(True), kto(False, "no"), kto("yes", "")])}


def test_kto_batch_crash_is_found_across_worker_chunks_and_batch_boundaries():
    records = [kto(i % 2 == 0, "x") for i in range(2100)]
    records[1499] = kto(True, first="assistant")  # broken; its successor 1500 is valid, same batch
    whole = codes(KTO, records)
    chunked = codes(KTO, records, chunks=[range(0, 700), range(1400, 2100), range(700, 1400)])
    assert ("DS452", 1499, ()) in whole and ("DS452", 1499, ()) in chunked
    records[1499] = kto(True, "x")
    records[1999] = kto(True, first="assistant")  # last of batch 1: wraps to 1000, which is valid
    assert ("DS452", 1999, ()) in codes(KTO, records, chunks=[range(0, 1000), range(1000, 2100)])
    records[1999] = kto(True, "x")
    records[999] = kto(True, first="assistant")  # last of batch 0; 1000 starts a new batch
    assert ("DS452", 999, ()) in codes(KTO, records, chunks=[range(0, 1000), range(1000, 2100)])
    assert "DS452" in {f[0] for f in codes(KTO, records)}
