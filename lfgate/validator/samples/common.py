"""Rules every formatting shares: conversion crashes, dropped samples, content and role types at tokenization,
configured fields that no record has, and the stage-level "no valid sample" and pretraining checks."""

from __future__ import annotations

from typing import Dict, List, Optional

from lfgate.diagnostics import Severity
from lfgate.lf_facts import close_matches
from lfgate.registry import ERROR, INFO, SUMMARY, WARNING, Refusal, rule
from lfgate.validator.converter import ASSISTANT, FUNCTION, OBSERVATION, USER
from lfgate.validator.samples.base import (
    CRASHED,
    CRASHES,
    END,
    FIELD_TYPO_CUTOFF,
    KEPT,
    MESSAGE,
    OPENAI_TAGS,
    RECORD,
    SHAREGPT,
    Counted,
    Finding,
    State,
    check,
    converter_raises,
    dataset_check,
    example,
    plural,
    turns,
)

EMPTY_TEXT = Refusal(empty=True)  # what DS010 and DS011 flag: an empty message


def longer_than_cutoff(checker) -> Optional[Refusal]:
    """The records that may exceed cutoff_len by lfgate's count go the full way (DS012 counts them), or None
    without one (tokens/budget.py: sound for that count)."""
    if checker.count_plan is None or not checker.count_plan.cutoff_len:
        return None
    from lfgate.tokens.budget import Budget

    return Refusal(budget=Budget(checker.count_plan, checker.stage))

_CHAT = turns(("human", "Hi"), ("gpt", "Hello!"))
# The summary findings that judge the samples: a stop before LLaMA-Factory judges them (every record crashing, a
# column or message key no record has) covers them.
STOPPED = ("DS003", "DS206", "DS207")
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
    covers=STOPPED, scope=SUMMARY,  # LLaMA-Factory stops before it judges the samples
)

COLUMN_MISSING = rule(
    "DS002", "column-missing-everywhere", ERROR,
    "A field the entry's `columns` name appears in no record",
    why="LLaMA-Factory reads `example[column]`; a field that no record has is not an Arrow column, so "
        "conversion raises a bare KeyError naming the field.",
    fix="Rename the field in the data or point `columns` at the field the data uses (or remove the column).",
    bad=example([{"instruction": "Say hi", "output": "Hi"}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
    covers=STOPPED, scope=SUMMARY,  # LLaMA-Factory stops before it judges the samples
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
    refuses=EMPTY_TEXT,
)

EMPTY_RESPONSE = rule(
    "DS011", "empty-response", WARNING,
    "The trained response is empty",
    why="An empty assistant message is accepted and trains the model to answer with only the end-of-sequence "
        "token.",
    fix="Fill in the response, or remove the sample.",
    bad=example([{"instruction": "Say hi", "input": "", "output": ""}]),
    good=example([{"instruction": "Say hi", "input": "", "output": "Hi"}]),
    refuses=EMPTY_TEXT,
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
    refuses=longer_than_cutoff,
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


# -- the checks ------------------------------------------------------------------------------------------------------
converter_raises("content-type", CONTENT_NOT_STRING, "Make every content a string.")
converter_raises("system-type", SYSTEM_NOT_STRING, "Make the system prompt a string.")
converter_raises("record-type", RECORD_CRASH, "Make every record a JSON object.")
converter_raises("tool-calls", RECORD_CRASH, "Give each tool call a `function` object with `name` and `arguments`.")
DATASET_WIDE_CRASHES = ("null-column", "null-tag", "formatting")  # every record raises the same way


@check(CRASHED, RECORD_CRASH)
def conversion_crash(c, s) -> None:
    err = s.error
    if err.kind in DATASET_WIDE_CRASHES:  # said once for the dataset (EveryRecordCrashes)
        return
    rule_, fix = CRASHES.get(err.kind, (RECORD_CRASH, "Fix the value at this place."))
    s.out.append(Finding(rule_, f"{err.message}: LLaMA-Factory raises {err.raises} while converting the dataset. "
                         + fix, s.index, err.path))


@dataset_check(CRASHED, RECORD_CRASH)
class EveryRecordCrashes(Counted):
    """A registry that makes every record raise the same way (a null column or tag, a misspelt formatting)."""

    def add(self, c, s) -> None:
        err = s.error
        if err.kind in DATASET_WIDE_CRASHES:
            self.tally.add(err.kind, s.index, err.path, f"{err.message} ({err.raises})")

    def findings(self, c) -> List[Finding]:
        out = []
        for kind, n in self.tally.counts.items():
            sample, path, detail = self.tally.first[kind]
            out.append(Finding(RECORD_CRASH, f"every record fails to convert ({plural(n, 'record')}): {detail}. "
                               "Fix the entry's `columns`/`tags`/`formatting` in dataset_info.json.", sample, path,
                               affected=n))
        return out


def accessed_columns(entry) -> Dict[str, str]:
    """{field name: columns key} for the fields LLaMA-Factory indexes with example[...] (KeyError if no row has
    them). The openai converter reads system and tools with .get(), so those never raise."""
    cols = entry.columns
    if entry.formatting == "alpaca":
        keys = ["prompt", "query", "history", "system", "tools", "images", "videos", "audios", "kto_tag"]
        keys += ["chosen", "rejected"] if entry.ranking else ["response"]
    else:
        keys = ["messages", "images", "videos", "audios", "kto_tag"]
        # sharegpt reads the system field only for samples without a leading system message (ColumnsSeen)
        keys += ["tools", "system"] if entry.formatting == "sharegpt" else []
        keys += ["chosen", "rejected"] if entry.ranking else []
    out: Dict[str, str] = {}
    for key in keys:
        if isinstance(cols.get(key), str) and cols.get(key):
            out.setdefault(cols[key], key)
    return out


@dataset_check(RECORD, COLUMN_MISSING)
class ColumnsSeen(State):
    """The fields LLaMA-Factory indexes that no record has had yet, and whether it ever reads the system field (a
    sharegpt sample that starts with a system message never does)."""

    def __init__(self, c):
        self.columns = accessed_columns(c.entry)
        self.pending = set(self.columns)
        self.some_fields: tuple = ()  # a record's field names, for a did-you-mean on a missing column
        tags = c.entry.tags
        self.messages_col, self.role_tag, self.system_tag = c.entry.columns.get("messages"), tags.get("role_tag"), \
            tags.get("system_tag")
        # sharegpt reads the system field for samples without a leading system message
        self.system_read = not (c.entry.formatting == "sharegpt" and "system" in self.columns.values())

    def add(self, c, s) -> None:
        value = s.value
        if not isinstance(value, dict):
            return
        if self.pending:
            for column in [col for col in self.pending if col in value]:
                self.pending.discard(column)
            if not self.some_fields:
                self.some_fields = tuple(k for k in value if isinstance(k, str))[:100]
        if not self.system_read:
            messages = value.get(self.messages_col)
            if isinstance(messages, list):
                first = messages[0] if messages else None
                system = self.system_tag
                if not (system and isinstance(first, dict) and first.get(self.role_tag) == system):
                    self.system_read = True

    def seen(self, field: str) -> bool:
        """Whether some record has had this field (true of any field the entry does not index)."""
        return field not in self.pending

    def merge(self, other) -> None:
        self.pending &= other.pending  # not yet seen: by neither
        self.some_fields = self.some_fields or other.some_fields
        self.system_read = self.system_read or other.system_read

    def findings(self, c) -> List[Finding]:
        out = []
        entry = c.entry
        for column in sorted(self.pending):
            key = self.columns[column]
            if key == "system" and entry.formatting == "sharegpt" and not self.system_read:
                continue  # every sample starts with a system message, so LLaMA-Factory never reads the field
            named = "default" if not isinstance(entry.raw.get("columns"), dict) else "set"
            typo = close_matches(column, [f for f in self.some_fields if f not in self.columns], 1, FIELD_TYPO_CUTOFF)
            meant = f" The records have {typo[0]!r}: did you mean {column!r}?" if typo else ""
            out.append(Finding(COLUMN_MISSING, f"no record has the field {column!r} (`columns.{key}`, {named}): "
                               f"LLaMA-Factory raises KeyError: {column!r} while converting.{meant} Rename the field "
                               f"or point `columns.{key}` at the field the data uses.", None, ()))
        return out


@dataset_check(RECORD, UNREAD_FIELD, when=lambda c: bool(unread_default_fields(c.entry)))
class UnreadFields(Counted):
    def __init__(self, c):
        super().__init__(c)
        self.fields = unread_default_fields(c.entry)

    def add(self, c, s) -> None:
        value = s.value
        if isinstance(value, dict):
            for field in self.fields:
                if value.get(field) not in (None, "", [], {}):
                    self.tally.add(field, s.index, (field,))

    def findings(self, c) -> List[Finding]:
        out = []
        for field, n in sorted(self.tally.counts.items(), key=lambda kv: str(kv[0])):
            if field is None:
                continue
            sample, path, _ = self.tally.first[field]
            key = self.fields[field]
            out.append(Finding(UNREAD_FIELD, f"{plural(n, 'sample')} have the field {field!r} (first: sample "
                               f"{sample}), but `columns` omits {key!r}, so LLaMA-Factory never reads it (a partial "
                               f"`columns` resets every key it omits). Add \"{key}\": \"{field}\" to `columns`.",
                               sample, path))
        return out


# -- what the template sees of a kept sample ---------------------------------------------------------------------
_TEMPLATE_ROLES = (USER, ASSISTANT, OBSERVATION, FUNCTION)


@check(MESSAGE, UNEXPECTED_ROLE)
def unexpected_role(c, s, message, path) -> None:
    role = message["role"]
    if role in _TEMPLATE_ROLES or s.reported(UNEXPECTED_ROLE):
        return
    path = (path[0], path[1], c.entry.tags.get("role_tag")) if path and len(path) == 3 and \
        isinstance(path[1], int) else path or ()
    s.out.append(Finding(UNEXPECTED_ROLE, f"this message reaches the template with role {role!r}, which raises "
                         f"NotImplementedError(\"Unexpected role\"): {_role_hint(c, s, path)}", s.index, path))


def _role_hint(c, s, path) -> str:
    messages = s.value.get(path[0]) if path else None
    original = messages[path[1]] if isinstance(messages, list) and len(path) > 1 and isinstance(path[1], int) \
        and path[1] < len(messages) else None
    if isinstance(original, dict) and original.get(c.entry.tags.get("role_tag")) is None:
        return ("a message has no role key and matched a tag that a partial `tags` object set to null. Give every "
                "message a role and declare all tags")
    return "declare the role in `tags` as a user, assistant, observation or function tag"


@check(MESSAGE, CONTENT_NOT_STRING)
def content_not_string(c, s, message, path) -> None:
    content = message["content"]
    if isinstance(content, str) or s.reported(CONTENT_NOT_STRING):
        return
    shown = "null" if content is None else f"a {type(content).__name__}"
    s.out.append(Finding(CONTENT_NOT_STRING, f"the content is {shown}: the template raises \"Expected a string\" "
                         "at tokenization. Make it a string.", s.index, path or ()))


@check(KEPT, EMPTY_USER, when=lambda c: c.stage == "pt")
def empty_document(c, s) -> None:
    aligned = s.aligned
    first = aligned.prompt[0]["content"] if aligned.prompt else None
    if isinstance(first, str) and not first:
        s.out.append(Finding(EMPTY_USER, "the text is empty: pretraining on an empty document. Remove the sample.",
                             s.index, s.source(0)))


@dataset_check(KEPT, PRETRAIN_FIRST_ONLY, when=lambda c: c.stage == "pt")
class PretrainExtra(Counted):
    def add(self, c, s) -> None:
        if len(s.aligned.prompt) > 1 or s.aligned.response:
            self.tally.add("extra", s.index, ())

    def findings(self, c) -> List[Finding]:
        if not self.tally:
            return []
        sample, _, _ = self.tally.earliest()
        return [Finding(PRETRAIN_FIRST_ONLY, f"pretraining uses only the first user message or prompt text; "
                        f"{plural(self.tally.total(), 'sample')} have more (responses, history or later turns) that "
                        f"are ignored (first: sample {sample}). Use one text column for pt.", sample, ())]


@check(KEPT, EMPTY_USER, when=lambda c: c.stage != "pt")
def empty_user(c, s) -> None:
    prompt = s.aligned.prompt
    if prompt and prompt[-1]["role"] == USER and prompt[-1]["content"] == "":
        what = "the instruction and input are empty" if c.entry.formatting == "alpaca" else \
            "the last user message is empty"
        s.out.append(Finding(EMPTY_USER, f"{what}: the answer is trained on no question. Fill it in or remove the "
                             "sample.", s.index, s.source(len(prompt) - 1)))


@check(KEPT, EMPTY_RESPONSE, when=lambda c: c.stage in ("sft", "rm"))
def empty_response(c, s) -> None:
    for k, message in enumerate(s.aligned.response[:2]):
        if message["content"] == "":
            s.out.append(Finding(EMPTY_RESPONSE, "the response is empty: the model learns to answer with only the "
                                 "end-of-sequence token. Fill it in or remove the sample.", s.index,
                                 s.source(len(s.aligned.prompt) + k)))
            return


def repeats_user_turn(texts) -> bool:
    """The last two texts are the same up to white space: a response that repeats the user turn it answers."""
    user, answer = texts[-2].rstrip(), texts[-1].rstrip()
    if user[-1:] != answer[-1:]:  # every record pays this: settled by the texts' ends, as a rule
        return False
    user, answer = user.lstrip(), answer.lstrip()
    return user[:1] == answer[:1] and answer != "" and user.split() == answer.split()


RESPONSE_REPEATS_USER = rule(
    "DS014", "response-repeats-user-turn", WARNING,
    "The response repeats the user turn it answers",
    why="The sft processor trains the response tokens as labels (data/processor/supervised.py:90-100, 0.9.5) "
        "whatever they say: a response that is the user's message again, word for word, teaches the model to echo "
        "the question. It is usually a data mistake: the answer field copied from the question, or `columns` "
        "mapping the response to the prompt's field.",
    fix="Write the answer (or point `columns.response` at the answer field), or remove the sample.",
    bad=example([{"conversations": turns(("human", "What is 2+2?"), ("gpt", "What is  2+2?\n"))}], SHAREGPT),
    good=example([{"conversations": turns(("human", "What is 2+2?"), ("gpt", "4"))}], SHAREGPT),
    refuses_texts=repeats_user_turn,
)


@check(KEPT, RESPONSE_REPEATS_USER, when=lambda c: c.stage == "sft")
def response_repeats_user(c, s) -> None:
    prompt, response = s.aligned.prompt, s.aligned.response
    user, answer = prompt[-1], response[0]
    if user["role"] == USER and isinstance(user["content"], str) and isinstance(answer["content"], str) \
            and repeats_user_turn((user["content"], answer["content"])):
        s.out.append(Finding(RESPONSE_REPEATS_USER, "the response is the user's message again (up to white space): "
                             "the model is trained to echo the question. Write the answer, or remove the sample.",
                             s.index, s.source(len(prompt))))


@check(KEPT, SYSTEM_NOT_STRING, when=lambda c: c.stage != "pt")
def system_not_string(c, s) -> None:
    system = s.aligned.system
    if not system or isinstance(system, str):
        return
    cols, tags = c.entry.columns, c.entry.tags
    path: tuple = (cols.get("system"),) if cols.get("system") else ()
    if c.chat:
        messages = s.value.get(cols.get("messages"))
        first = messages[0] if isinstance(messages, list) and messages else None
        if isinstance(first, dict) and first.get(tags.get("role_tag")) == tags.get("system_tag"):
            path = (cols.get("messages"), 0, tags.get("content_tag"))
    s.out.append(Finding(SYSTEM_NOT_STRING, f"the system prompt is a {type(system).__name__}: the template raises a "
                         "TypeError at tokenization. Make it a string.", s.index, path))


@dataset_check(KEPT, TRUNCATION, when=lambda c: c.count_plan is not None and bool(c.count_plan.cutoff_len))
class Truncated(State):
    """Every kept sample counted in tokens against cutoff_len (lfgate/tokens: the one count check, stats, preview
    and the dry run make), the cut ones named."""

    def __init__(self, c):
        from lfgate.tokens.report import Truncation

        self.tally = Truncation(c.count_plan.cutoff_len, c.count_plan.spec.exact)
        self._counter = None  # made on the first sample counted: the vocabulary loads once per process
        self._bytes = None  # tokens/budget.py's byte bound: a sample it proves within needs no vocabulary

    def add(self, c, s) -> None:
        from lfgate.tokens.budget import extra_tokens
        from lfgate.tokens.sample import measure

        plan = c.count_plan
        if plan.max_samples is not None and s.index >= plan.max_samples and c.entry.num_samples is None:
            return  # max_samples: LLaMA-Factory loads the first records only (data/loader.py), so only those count
        aligned = s.aligned
        if self._bytes is None:
            from lfgate.tokens.budget import Budget

            self._bytes = Budget(plan, c.stage)
        messages = aligned.prompt + aligned.response
        # at most one token per byte: it cannot reach cutoff_len (tools go the full way: the template wraps them in
        # its own tool prompt, which the byte bound does not hold)
        if not aligned.tools and self._bytes.bytes_within("\0".join(_text(m.get("content")) for m in messages),
                                                          len(messages), extra_tokens(_text(aligned.system), False)):
            return
        if self._counter is None:
            from lfgate.tokens.counters import counter

            self._counter = counter(plan.spec)
        length = measure(aligned, c.stage, plan, self._counter)
        if length is None:
            return
        joined = "" if self.tally.exact else "\n".join(
            t for t in (_str(m.get("content")) for m in aligned.prompt + aligned.response) if t)
        self.tally.add(s.index, length, self._counter, joined)

    def merge(self, other) -> None:
        self.tally.merge(other.tally)

    def __getstate__(self) -> dict:  # across worker processes: the tally; each process loads its own vocabulary
        return {"tally": self.tally, "_counter": None, "_bytes": None}

    def facts(self, c):
        """The tally's facts, out of every kept sample LLaMA-Factory loads (the fast paths' clean records were
        proven within cutoff_len without being counted)."""
        facts = self.tally.facts()
        limit = c.count_plan.max_samples
        facts["counted"] = min(c.kept, limit) if limit is not None and c.entry.num_samples is None else c.kept
        return facts

    def findings(self, c) -> List[Finding]:
        """What cutoff_len cuts (tokens/report.py: the one wording, shared with LK050 and stats)."""
        from lfgate.tokens import report
        from lfgate.tokens.counters import describe

        facts = self.facts(c)
        level = report.severity_name(facts)
        if level is None:
            return []
        note = " (the default)" if getattr(c.usage, "stage", None) is None else ""
        if note and facts.get("low", facts["exceeding"]) < max(facts.get("counted") or 0, 1):
            level = "info"  # no config sets cutoff_len: LLaMA-Factory's default is a guess; a warning when all are cut
        text = report.message(facts, describe(c.count_plan.spec, report.band_kind(facts)), cutoff_note=note)
        return [Finding(TRUNCATION, text + ".", None, (), Severity.WARNING if level == "warning" else None)]


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def _text(value) -> str:
    """A value as tokens/sample.py counts it: a string, else its JSON (tools, a non-string system)."""
    from lfgate.tokens.sample import text

    return text(value)


# -- why a sample is dropped, and the dataset as a whole -------------------------------------------------------------
_SHAPES = {"sft": "an odd number of prompt messages and exactly one response",
           "rm": "an odd number of prompt messages and two responses (chosen, rejected)",
           "kto": "an odd number of prompt messages and a boolean kto_tag",
           "ppo": "an odd number of prompt messages", "pt": "at least one message"}


def dropped(c, s, reason) -> Optional[Finding]:
    """The finding for a sample the stage drops (``reason``: the DropReason, or None when nothing says why); None
    when the reason is said elsewhere (its rule None)."""
    if c.stage == "pt":
        return Finding(PRETRAIN_CRASH, "pretraining reads the first message of every sample, and this one was "
                       f"blanked by the converter{': ' + reason.what if reason else ''}; LLaMA-Factory raises "
                       "IndexError. Fix or remove the sample.", s.index, reason.path if reason else ())
    if reason is not None:
        if reason.rule is None:
            return None
        return Finding(reason.rule, f"{reason.what}: the {c.stage} stage drops this sample. {reason.fix}", s.index,
                       reason.path)
    aligned = s.aligned
    where = (c.entry.columns.get("messages"),) if c.chat else ()
    if c.chat and not aligned.prompt and not aligned.response:
        return Finding(SAMPLE_DROPPED, "the conversation has no messages: the stage drops this sample. Add the "
                       "messages or remove it.", s.index, where)
    return Finding(SAMPLE_DROPPED, f"the {c.stage} stage needs {_SHAPES[c.stage]}, and this sample has a prompt of "
                   f"{len(aligned.prompt)} and {len(aligned.response)} responses: it is dropped. Give it that shape.",
                   s.index, where)


@check(END, NO_VALID_SAMPLES)
def nothing_kept(c) -> List[Finding]:
    converted = c.total - c.crashed
    if c.crashed or c.kept or c.stage == "pt" or converted <= 0:
        return []
    which = f"none of the {converted} samples is" if converted > 1 else "the only sample is not"
    return [Finding(NO_VALID_SAMPLES, f"{which} kept by the {c.stage} stage: LLaMA-Factory raises \"Cannot find "
                    "valid samples\". Fix the sample errors reported for this dataset, or use the dataset with the "
                    "stage it is made for.", None, ())]


# alpaca column keys whose default field name a partial `columns` object stops being read
_ALPACA_DEFAULT_FIELDS = (("prompt", "instruction"), ("query", "input"), ("response", "output"))


def unread_default_fields(entry) -> dict:
    """{field: column key} for the default alpaca fields that a partial `columns` leaves unread (empty otherwise)."""
    if entry.formatting != "alpaca" or not isinstance(entry.raw.get("columns"), dict):
        return {}
    mapped = {v for v in entry.columns.values() if v}
    return {field: key for key, field in _ALPACA_DEFAULT_FIELDS if not entry.columns.get(key) and field not in mapped}
