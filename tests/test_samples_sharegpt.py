"""sharegpt sample rules (and OpenAI-style data declared as sharegpt with tags), position-exact."""

import json

from conftest import oracle_missing
from sample_check import codes, run, severities

SG = {"formatting": "sharegpt"}
SG_SYS = {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"}}
README_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
OPENAI_TAGS = {**README_TAGS, "system_tag": "system"}
OT = {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": OPENAI_TAGS}
TOOLS = {"formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"}}
TOOL_TEXT = json.dumps([{"name": "add", "description": "", "parameters": {"type": "object", "properties": {}}}])
CALL = json.dumps({"name": "add", "arguments": {"a": 1}})


def c(*pairs):
    return {"conversations": [{"from": r, "value": v} for r, v in pairs]}


def m(*pairs):
    return {"messages": [{"role": r, "content": v} for r, v in pairs]}


CHAT = c(("human", "hi"), ("gpt", "yo"))


def test_valid_conversations_have_no_findings():
    assert codes(SG, [CHAT, c(("system", "S"), ("human", "a"), ("gpt", "b"), ("human", "c"), ("gpt", "d"))]) == []
    assert codes(OT, [m(("system", "S"), ("user", "hi"), ("assistant", "yo")),
                      m(("user", "a"), ("assistant", "b"))]) == []


def test_unknown_role_names_the_role_and_the_tags():
    findings, _ = run(SG, [CHAT, c(("human", "hi"), ("assistant", "yo"))])
    found = [(f.rule.code, f.sample, f.path) for f in findings]
    assert ("DS201", 1, ("conversations", 1, "from")) in found
    message = next(f.message for f in findings if f.rule.code == "DS201")
    assert "'assistant'" in message and "'gpt' (assistant_tag)" in message
    assert '"assistant_tag": "assistant"' in message  # the likely tag is suggested
    # the dataset-level summary of undeclared roles, once more than one message has them
    assert "DS207" not in {code for code, _, _ in found}
    found = [(f.rule.code, f.sample, f.path) for f in run(SG, [CHAT, c(("human", "hi"), ("assistant", "yo")),
                                                               c(("user", "hi"), ("gpt", "yo"))])[0]]
    assert found.count(("DS207", 1, ("conversations", 1, "from"))) == 1


def test_roles_out_of_order():
    found = codes(SG, [CHAT, c(("human", "a"), ("gpt", "b"), ("gpt", "c"), ("human", "d"))])
    assert found == [("DS202", 1, ("conversations", 2, "from"))]
    assert codes(SG, [c(("gpt", "a"), ("human", "b")), CHAT]) == [("DS202", 0, ("conversations", 0, "from"))]


def test_function_and_observation_take_the_assistant_and_user_slots():
    ok = c(("human", "1+1"), ("function_call", CALL), ("observation", "2"), ("gpt", "2"))
    assert codes(TOOLS, [{**ok, "tools": TOOL_TEXT}]) == []
    bad = c(("human", "1+1"), ("observation", "2"), ("gpt", "2"), ("human", "x"))
    assert codes(SG, [bad, CHAT]) == [("DS202", 0, ("conversations", 1, "from"))]


def test_system_message_only_first_and_only_with_system_tag():
    late = c(("human", "a"), ("gpt", "b"), ("system", "S"), ("gpt", "c"))
    assert codes(SG, [CHAT, late]) == [("DS203", 1, ("conversations", 2, "from"))]
    partial = {**OT, "tags": README_TAGS}  # LLaMA-Factory's own OpenAI example: no system_tag
    findings, _ = run(partial, [m(("system", "S"), ("user", "hi"), ("assistant", "yo")),
                                m(("user", "a"), ("assistant", "b"))])
    assert [(f.rule.code, f.sample, f.path) for f in findings][0] == ("DS203", 0, ("messages", 0, "role"))
    assert "system_tag" in findings[0].message


def test_leading_system_message_wins_over_the_system_column():
    assert codes(SG_SYS, [{**c(("system", "S1"), ("human", "a"), ("gpt", "b")), "system": "S2"}]) == []


def test_message_count():
    assert codes(SG, [CHAT, c(("human", "a"), ("gpt", "b"), ("human", "c"))]) == [("DS204", 1, ("conversations",))]
    assert codes(SG, [CHAT, {"conversations": []}]) == [("DS007", 1, ("conversations",))]


def test_messages_must_be_a_list_of_objects():
    assert codes(SG, [CHAT, {"conversations": "hi"}]) == [("DS205", 1, ("conversations",))]
    assert codes(SG, [CHAT, {"conversations": ["hi", "yo"]}]) == [("DS205", 1, ("conversations", 0))]
    assert codes(SG, [CHAT, {"conversations": None}]) == [("DS205", 1, ("conversations",))]


def test_content_must_be_a_string():
    found = codes(SG, [CHAT, c(("human", "a"), ("gpt", None)), c(("human", ["x"]), ("gpt", "b"))])
    assert found == [("DS004", 1, ("conversations", 1, "value")), ("DS004", 2, ("conversations", 0, "value"))]


def test_system_must_be_a_string():
    found = codes(SG_SYS, [{**CHAT, "system": 5}, {**c(("system", ["S"]), ("human", "a"), ("gpt", "b")), "system": ""}])
    assert found == [("DS005", 0, ("system",)), ("DS005", 1, ("conversations", 0, "value"))]


def test_function_call_content_is_json_with_name_and_arguments():
    def conv(call):
        return {**c(("human", "1+1"), ("function_call", call), ("observation", "2"), ("gpt", "2")), "tools": TOOL_TEXT}

    good = [CALL, json.dumps([json.loads(CALL)] * 2), "<think>plan</think>" + CALL,
            "<tool_call>" + CALL + "</tool_call>"]
    assert codes(TOOLS, [conv(x) for x in good]) == []
    bad = ["add(1)", json.dumps({"name": "add"}), json.dumps(["add"])]
    assert codes(TOOLS, [conv(x) for x in bad]) == [("DS061", i, ("conversations", 1, "value")) for i in range(3)]


def test_tools_must_be_a_json_string_holding_a_list():
    ok = c(("human", "1+1"), ("gpt", "2"))
    records = [{**ok, "tools": TOOL_TEXT}, {**ok, "tools": json.loads(TOOL_TEXT)}, {**ok, "tools": "[{bad"},
               {**ok, "tools": json.dumps({"name": "add"})}, {**ok, "tools": "[]"}, {**ok, "tools": ""},
               {**ok, "tools": json.dumps([{"description": "no name"}])}]
    assert codes(TOOLS, records) == [("DS062", i, ("tools",)) for i in (1, 2, 3)]
    # the default tool format (most templates) also needs each tool's name and parameters.properties
    assert codes(TOOLS, records, template="chatml") == [("DS062", i, ("tools",)) for i in (1, 2, 3, 6)]
    assert codes(TOOLS, records, template="phi4_mini") == [("DS062", 1, ("tools",))]


def test_none_tag_pitfall_roleless_message_becomes_system():
    partial = {**OT, "tags": README_TAGS}
    found = codes(partial, [{"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo"}]},
                            m(("user", "a"), ("assistant", "b"))])
    assert found == [("DS006", 0, ("messages", 0, "role"))]


def test_role_key_missing_from_one_message_is_null_and_drops_the_sample():
    found = codes(SG, [CHAT, {"conversations": [{"value": "hi"}, {"from": "gpt", "value": "yo"}]}])
    assert ("DS201", 1, ("conversations", 0)) in found


def test_role_or_content_key_in_no_message_is_a_keyerror():
    found = codes(SG, [{"conversations": m(("human", "hi"), ("gpt", "yo"))["messages"]}] * 2)
    assert ("DS208", None, ()) in found


def test_tag_values_never_used():
    found = codes(SG, [c(("user", "a"), ("gpt", "b"))])
    assert ("DS206", None, ()) in found  # user_tag "human" never used
    # optional roles declared by default are not reported; explicitly declared ones are
    assert [x for x in codes(SG, [CHAT]) if x[0] == "DS206"] == []
    assert [x for x in codes(OT, [m(("user", "a"), ("assistant", "b"))]) if x[0] == "DS206"] == []
    tools = {**OT, "tags": {**OPENAI_TAGS, "observation_tag": "tool", "function_tag": "function"}}
    assert [x[0] for x in codes(tools, [m(("user", "a"), ("assistant", "b"))])] == ["DS206", "DS206"]
    assert severities(tools, [m(("user", "a"), ("assistant", "b"))]) == {"DS206": "info"}


def test_wrong_role_key_everywhere_is_one_finding_not_one_per_sample():
    found = codes(SG, [{"conversations": m(("human", "hi"), ("gpt", "yo"))["messages"]}] * 3)
    assert found == [("DS208", None, ()), ("DS208", None, ())]  # neither "from" nor "value" is a key


FUNCTION_CONTENTS = [
    CALL, json.dumps([json.loads(CALL)] * 2), "<think>\nplan\n</think>\n\n" + CALL, "<think>plan</think>" + CALL,
    "<tool_call>" + CALL + "</tool_call>", "text <tool_call>\n" + CALL + "\n</tool_call>", "add(1)",
    json.dumps({"name": "add"}), json.dumps(["add"]), "", " " + CALL + " ", json.dumps({"name": "a", "arguments": "x"}),
    "<tool_call>" + CALL + "</tool_call><tool_call>bad</tool_call>", "null", "<|tool_call_start|>" + CALL +
    "<|tool_call_end|>", "<seed:think>x</seed:think>" + CALL, "<|channel>thought\nx<channel|>" + CALL,
]


_FULL_TOOL = {"name": "add", "description": "d",
              "parameters": {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}}
TOOLS_TEXTS = [json.dumps([_FULL_TOOL]), json.dumps([{"type": "function", "function": _FULL_TOOL}]), "[]", "{}",
               json.dumps(_FULL_TOOL), json.dumps([{"name": "add"}]), json.dumps([{"description": "x"}]),
               json.dumps(["add"]), "[{bad", '"abc"', json.dumps([{"name": "add", "parameters": {}}]),
               json.dumps([{"name": "add", "parameters": {"properties": {}}}])]


def test_function_call_check_follows_the_template():
    from lfgate.validator.samples.tools import function_call_problem

    think = "<think>plan</think>" + CALL
    assert function_call_problem(think) is None  # template unknown: any think block is accepted
    assert function_call_problem(think, "qwen") == "is not valid JSON"  # qwen's thought words need newlines
    assert function_call_problem(think, "glm4_7") is None
    assert "parallel" in function_call_problem(json.dumps([json.loads(CALL)] * 2), "glm4")
    conv = {**c(("human", "1+1"), ("function_call", think), ("observation", "2"), ("gpt", "2")), "tools": TOOL_TEXT}
    assert codes(TOOLS, [conv], template="qwen") == [("DS061", 0, ("conversations", 1, "value"))]


def test_function_call_check_agrees_with_every_llamafactory_template():
    import os
    import subprocess

    from conftest import ROOT
    from lfgate.validator.samples.tools import function_call_problem, tools_problem

    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    cases = {"function": FUNCTION_CONTENTS, "tools": TOOLS_TEXTS}
    proc = subprocess.run([python, str(ROOT / "tests" / "lf_function_oracle.py")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = json.loads(proc.stdout)
    assert len(expected["function"]) > 100
    wrong = [(name, content) for name, row in expected["function"].items()
             for content, raised in zip(FUNCTION_CONTENTS, row)
             if (raised is None) != (function_call_problem(content, name) is None)]
    wrong += [(name, text) for name, row in expected["tools"].items() for text, raised in zip(TOOLS_TEXTS, row)
              if (raised is None) != (tools_problem(text, name) is None)]
    assert wrong == []
    # with no template known, only what every template rejects is reported
    for k, text in enumerate(TOOLS_TEXTS):
        if tools_problem(text) is not None:
            failing = sum(row[k] is not None for row in expected["tools"].values())
            assert failing >= len(expected["tools"]) - 2, text


def test_system_field_in_no_record_is_a_keyerror_only_when_some_sample_reads_it():
    with_system = c(("system", "S"), ("human", "a"), ("gpt", "b"))
    assert codes(SG_SYS, [with_system, with_system]) == []
    assert codes(SG_SYS, [with_system, CHAT]) == [("DS002", None, ())]
