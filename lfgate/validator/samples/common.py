"""Rules every formatting shares: conversion crashes, dropped samples, content and role types at tokenization,
configured fields that no record has, and the stage-level "no valid sample" and pretraining checks."""

from __future__ import annotations

from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator.samples.base import OPENAI_TAGS, SHAREGPT, example, turns

_CHAT = turns(("human", "Hi"), ("gpt", "Hello!"))
_OPENAI = {"formatting": "openai", "columns": {"messages": "messages"},
           "tags": {**OPENAI_TAGS, "observation_tag": "tool", "function_tag": "function"}}

RECORD_CRASH = rule(
    "DS001", "record-crashes-conversion", ERROR,
    "A record makes LLaMA-Factory's converter raise",
    why="LLaMA-Factory converts every record before training (\"Converting format of dataset\"); a value it "
        "cannot handle there raises (KeyError, TypeError, ValueError) and stops the run with no sample number.",
    fix="Give the value the shape the formatting expects (see the message).",
    bad=example([{"messages": [{"role": "user", "content": "2+1?"},
                               {"role": "assistant", "content": "", "tool_calls": [{"name": "add"}]},
                               {"role": "tool", "content": "3"}, {"role": "assistant", "content": "3"}]}],
                _OPENAI),
    good=example([{"messages": [{"role": "user", "content": "2+1?"},
                                {"role": "assistant", "content": "", "tool_calls": [
                                    {"type": "function", "function": {"name": "add", "arguments": {"a": 2}}}]},
                                {"role": "tool", "content": "3"}, {"role": "assistant", "content": "3"}]}],
                 _OPENAI),
)

COLUMN_MISSING = rule(
    "DS002", "column-missing-everywhere", ERROR,
    "A field the entry's `columns` name appears in no record",
    why="LLaMA-Factory reads `example[column]`; a field that no record has is not an Arrow column, so "
        "conversion raises a bare KeyError naming the field.",
    fix="Rename the field in the data or point `columns` at the field the data uses (or remove the column).",
    bad=example([{"instruction": "Say hi", "output": "Hi"}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
)

NO_VALID_SAMPLES = rule(
    "DS003", "no-valid-samples", ERROR,
    "Every sample is dropped for the stage",
    why="When the stage's processor drops every sample, LLaMA-Factory raises \"Cannot find valid samples, check "
        "`data/README.md` for the data format.\" after the whole tokenization pass.",
    fix="Fix the per-sample errors reported for this dataset, or use the dataset with the stage it is made for.",
    bad=example([{"conversations": turns(("gpt", "Hello!"), ("human", "Hi"))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

CONTENT_NOT_STRING = rule(
    "DS004", "content-not-string", ERROR,
    "A message content is not a string",
    why="The chat template formats each message with a string formatter; a null, number, list or object "
        "content raises \"Expected a string\" (or a TypeError) at tokenization.",
    fix="Make every message content a string (serialise structured content, or drop the message).",
    bad=example([{"conversations": turns(("human", "Hi"), ("gpt", None))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

SYSTEM_NOT_STRING = rule(
    "DS005", "system-not-string", ERROR,
    "The system prompt is not a string",
    why="LLaMA-Factory passes the system prompt through unchecked and the template concatenates it with the "
        "tool text: a number, list or object raises a TypeError at tokenization.",
    fix="Make the system prompt a string.",
    bad=example([{"conversations": _CHAT, "system": ["Be brief."]}], {**SHAREGPT, "columns": {
        "messages": "conversations", "system": "system"}}),
    good=example([{"conversations": _CHAT, "system": "Be brief."}], {**SHAREGPT, "columns": {
        "messages": "conversations", "system": "system"}}),
)

UNEXPECTED_ROLE = rule(
    "DS006", "unexpected-role-at-tokenization", ERROR,
    "A message reaches the template with a role it cannot format",
    why="With a partial `tags` object several tags are null; a message without a role key then matches a null "
        "tag, is accepted, and is mapped to \"system\" (or another role the template cannot place), which "
        "raises NotImplementedError(\"Unexpected role\") at tokenization.",
    fix="Give every message a role key, and declare every tag in `tags` (a partial object resets the rest).",
    bad=example([{"messages": [{"content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}],
                {**SHAREGPT, "columns": {"messages": "messages"}, "tags": {
                    "role_tag": "role", "content_tag": "content", "user_tag": "user",
                    "assistant_tag": "assistant"}}),
    good=example([{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}],
                 {**SHAREGPT, "columns": {"messages": "messages"}, "tags": {
                     "role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant"}}),
)

SAMPLE_DROPPED = rule(
    "DS007", "sample-dropped", ERROR,
    "The stage's processor drops this sample",
    why="Each stage keeps only samples of a certain shape (sft: an odd prompt and one response; rm/kto: two "
        "responses). Others are dropped with only a log line \"Dropped invalid example\".",
    fix="Give the sample the shape the stage needs, or train it with the stage it is made for.",
    bad=example([{"conversations": []}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

PRETRAIN_CRASH = rule(
    "DS008", "pretrain-broken-sample", ERROR,
    "A broken sample crashes pretraining",
    why="The pretraining processor reads `_prompt[0]` without checking; a sample the converter blanked (bad "
        "role order or count) raises IndexError and stops the run.",
    fix="Fix the sample's roles and count, or remove it.",
    bad=example([{"conversations": turns(("gpt", "Hello!"), ("human", "Hi"))}], SHAREGPT, stage="pt"),
    good=example([{"conversations": _CHAT}], SHAREGPT, stage="pt"),
)

PRETRAIN_FIRST_ONLY = rule(
    "DS009", "pretrain-uses-first-message-only", WARNING,
    "Pretraining reads only the first user message",
    why="The pretraining processor trains on `_prompt[0]` only: responses, history and later turns are "
        "silently ignored (LLaMA-Factory's README: sharegpt pretraining is \"not yet supported\").",
    fix="For pretraining, use one text column (`\"columns\": {\"prompt\": \"text\"}`); keep chat data for sft.",
    bad=example([{"conversations": _CHAT}], SHAREGPT, stage="pt"),
    good=example([{"text": "A document."}], {"columns": {"prompt": "text"}}, stage="pt"),
)

EMPTY_USER = rule(
    "DS010", "empty-user-turn", WARNING,
    "A user turn is empty",
    why="LLaMA-Factory accepts an empty user turn (alpaca: empty or null instruction and input) and trains the "
        "answer on no question, or pretrains on an empty document.",
    fix="Fill in the instruction/input (or the user message), or remove the sample.",
    bad=example([{"instruction": "", "input": "", "output": "Hi"}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
)

EMPTY_RESPONSE = rule(
    "DS011", "empty-response", WARNING,
    "The trained response is empty",
    why="An empty assistant message is accepted and trains the model to answer with only the end-of-sequence "
        "token.",
    fix="Fill in the response, or remove the sample.",
    bad=example([{"instruction": "Say hi", "input": "", "output": ""}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
)

TRUNCATION = rule(
    "DS012", "samples-exceed-cutoff", INFO,
    "Samples are longer than cutoff_len",
    why="LLaMA-Factory truncates each sample to `cutoff_len` tokens, cutting the source and then the response "
        "of each turn pair (data/processor/processor_utils.py infer_seqlen). Tokens are counted as lfgate/tokens "
        "counts them: the model's tokenizer.json when it is on this machine, else the `tokens` extra's "
        "vocabulary, else an estimate calibrated per tokenizer family with its measured error band. A warning "
        "when a response is cut, when prompts alone are cut in 1% of the samples or more (the model learns "
        "answers to inputs it never saw), or when every sample is cut; for data no config loads (judged at "
        "LLaMA-Factory's default cutoff_len, 2048) only when every sample is cut.",
    fix="Raise `cutoff_len`, or shorten or split the long samples.",
    # With a config that loads the data, LK050 reports it at the config's cutoff_len (one finding per cause): the
    # example ignores LK050 to show DS012. Data no config loads is judged at LLaMA-Factory's default, 2048.
    bad=example([{"instruction": "Say hi " * 200, "input": "", "output": "Hi " * 200}], stage="sft",
                extra={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                                     "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\n"
                                     "cutoff_len: 64\n"}),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}], stage="sft",
                 extra={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\n"
                                      "do_train: true\nfinetuning_type: lora\ndataset: a\ntemplate: qwen\n"
                                      "output_dir: saves/a\ncutoff_len: 64\n"}),
    args=("--ignore", "LK050"),
)

UNREAD_FIELD = rule(
    "DS013", "field-unread-after-partial-columns", WARNING,
    "The data has a field that a partial `columns` object stops LLaMA-Factory from reading",
    why="Once `columns` is present, every key it omits becomes null instead of its default: with "
        "`{\"prompt\": \"instruction\", \"response\": \"output\"}` the `input` field of every sample is silently "
        "ignored, so the model never sees it.",
    fix="Name the column in `columns` (e.g. \"query\": \"input\"), or drop the field from the data.",
    bad=example([{"instruction": "Translate", "input": "Bonjour", "output": "Hello"}],
                entry={"columns": {"prompt": "instruction", "response": "output"}}),
    good=example([{"instruction": "Translate", "input": "Bonjour", "output": "Hello"}],
                 entry={"columns": {"prompt": "instruction", "query": "input", "response": "output"}}),
)

# alpaca column keys whose default field name a partial `columns` object stops being read
_ALPACA_DEFAULT_FIELDS = (("prompt", "instruction"), ("query", "input"), ("response", "output"))


def unread_default_fields(entry) -> dict:
    """{field: column key} for the default alpaca fields that a partial `columns` leaves unread (empty otherwise)."""
    if entry.formatting != "alpaca" or not isinstance(entry.raw.get("columns"), dict):
        return {}
    mapped = {v for v in entry.columns.values() if v}
    return {field: key for key, field in _ALPACA_DEFAULT_FIELDS if not entry.columns.get(key) and field not in mapped}
