"""`formatting: openai` sample rules, position-exact."""

from sample_check import codes, run, severities

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
        "system_tag": "system", "observation_tag": "tool", "function_tag": "function"}
OA = {"formatting": "openai", "columns": {"messages": "messages", "tools": "tools"}, "tags": TAGS}
CALL = {"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}


def m(*pairs):
    return [{"role": r, "content": v} for r, v in pairs]


SYS = {"role": "system", "content": "Be brief. detailed thinking off"}


def test_valid_openai_records_have_no_findings():
    tool_turns = [SYS, *m(("user", "1+1?")), {"role": "assistant", "content": "", "tool_calls": [CALL]},
                  *m(("tool", "2"), ("assistant", "2"))]
    assert codes(OA, [{"messages": [SYS, *m(("user", "hi"), ("assistant", "yo"))]}, {"messages": tool_turns}]) == []


def test_unknown_role_crashes_instead_of_dropping():
    found = codes(OA, [{"messages": [SYS, *m(("user", "hi"), ("assistant", "yo"))]},
                       {"messages": m(("developer", "x"), ("user", "hi"), ("assistant", "yo"))}])
    assert ("DS301", 1, ("messages", 0, "role")) in found
    assert severities(OA, [{"messages": m(("user", "hi"), ("bot", "yo"))}])["DS301"] == "error"


def test_readme_tags_make_tool_messages_crash():
    readme = {**OA, "tags": {k: v for k, v in TAGS.items() if k not in ("observation_tag", "function_tag")}}
    found = codes(readme, [{"messages": [SYS, *m(("user", "1+1?"), ("assistant", "x"), ("tool", "2"),
                                               ("assistant", "2"))]}])
    assert ("DS301", 0, ("messages", 3, "role")) in found


def test_trailing_tool_messages_are_dropped_silently():
    record = {"messages": [SYS, *m(("user", "1+1?")), {"role": "assistant", "content": "", "tool_calls": [CALL]},
                           *m(("tool", "2"), ("tool", "3"))]}
    found = codes(OA, [record])
    assert found[0] == ("DS302", 0, ("messages", 3))
    assert severities(OA, [record])["DS302"] == "warning"


def test_system_prompt_rewriting_is_summarised_once():
    records = [{"messages": m(("user", "hi"), ("assistant", "yo"))},
               {"messages": m(("system", "Be brief."), ("user", "hi"), ("assistant", "yo"))}]
    findings, _ = run(OA, records)
    assert [(f.rule.code, f.sample) for f in findings] == [("DS303", 0)]
    assert "2 samples" in findings[0].message and "detailed thinking off" in findings[0].message


def test_string_arguments_are_double_encoded():
    call = {"type": "function", "function": {"name": "add", "arguments": "{\"a\": 1}"}}
    records = [{"messages": [SYS, *m(("user", "1+1?")), {"role": "assistant", "content": "", "tool_calls": [call]},
                             *m(("tool", "2"), ("assistant", "2"))]}]
    assert codes(OA, records) == [("DS304", 0, ("messages", 2, "tool_calls", 0, "function", "arguments"))]


def test_tool_call_without_function_object_crashes():
    bad_call = {"role": "assistant", "content": "", "tool_calls": [{"name": "add"}]}
    records = [{"messages": [SYS, *m(("user", "1+1?")), bad_call,
                             *m(("tool", "2"), ("assistant", "2"))]}]
    assert codes(OA, records) == [("DS001", 0, ("messages", 2, "tool_calls", 0))]


def test_alternation_is_checked_on_mapped_roles():
    found = codes(OA, [{"messages": [SYS, *m(("user", "a"), ("user", "b"), ("assistant", "c"))]},
                       {"messages": [SYS, *m(("user", "a"), ("assistant", "b"))]}])
    assert found == [("DS202", 0, ("messages", 2, "role"))]
    late_system = [SYS, *m(("user", "a"), ("assistant", "b"), ("system", "c"), ("assistant", "d"))]
    assert codes(OA, [{"messages": late_system}, {"messages": [SYS, *m(("user", "a"), ("assistant", "b"))]}]) == \
        [("DS203", 0, ("messages", 3, "role"))]


def test_tools_may_be_a_json_list_in_openai_formatting():
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
    records = [{"messages": [*m(("user", "1+1?")), {"role": "assistant", "content": "", "tool_calls": [CALL]},
                             *m(("tool", "2"), ("assistant", "2"))], "tools": tools}]
    assert codes(OA, records) == []
