"""SampleChecker: every per-record rule over one dataset, for one stage, streaming and mergeable across workers.

The dataset layer (validator/datasets.py) feeds records with ``check(index, record)``, possibly in several
processes over chunks of the file, merges the checkers with ``merge`` and calls ``finish`` once for the
dataset-level findings. Each Finding carries the sample index and the JSON path inside the record; the dataset
layer turns that into a line and column.

Each record goes through LLaMA-Factory's converter (``converter.align``), then through what the stage's
processor does with the aligned sample (``kept_by_stage``, ``stage_messages``): kept samples are checked as the
template will format them, dropped ones get one finding that says why. Memory stays bounded: counters and the
first sample of each kind, never lists of samples.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from lfgate.diagnostics import Severity
from lfgate.tokens.counters import Counter, counter
from lfgate.tokens.report import Truncation
from lfgate.tokens.sample import count_plan, measure
from lfgate.validator.converter import (
    ASSISTANT,
    FUNCTION,
    OBSERVATION,
    USER,
    ConversionError,
    align,
    declared,
    kept_by_stage,
    stage_messages,
    tag_mapping,
)
from lfgate.validator.model import DatasetUsage
from lfgate.validator.samples import alpaca, common, kto, multimodal, openai, ranking, sharegpt, tools
from lfgate.validator.samples.base import Finding, Tally

if TYPE_CHECKING:
    from lfgate.validator.media import ImageChecker  # imported when the first image is met

KTO_BATCH = 1000  # LLaMA-Factory's preprocessing_batch_size default
_TEMPLATE_ROLES = (USER, ASSISTANT, OBSERVATION, FUNCTION)
_VALID, _HAZARD, _OTHER = 1, 2, 0  # KTO batch status of a sample
_TOOLS_CACHE_SIZE = 256
# What a SampleChecker is set up with, and per-worker state: everything else is a counter that merge() adds up.
_NOT_COUNTERS = frozenset({"entry", "usage", "stage", "media_dir", "cutoff_len", "placeholders", "chat", "mapping",
                           "columns", "unread_fields", "kto_prev", "_tools_cache", "count_plan", "_counter",
                           "_images"})  # _images: media.ImageChecker, a per-worker cache of image sizes
_MEDIA_KINDS = (("images", "image"), ("videos", "video"), ("audios", "audio"))
_CRASH_RULES = {
    "history-pair": alpaca.HISTORY_PAIRS, "query-type": alpaca.QUERY_TYPE, "messages-type": sharegpt.MESSAGES_TYPE,
    "ranking-role-unknown": ranking.UNKNOWN_ROLE, "role-unknown": openai.ROLE_CRASH,
    "content-type": common.CONTENT_NOT_STRING, "system-type": common.SYSTEM_NOT_STRING,
}
_DATASET_WIDE_CRASHES = ("null-column", "null-tag", "formatting")  # every record raises the same way
_TAG_KEYS = ("user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
_LIKELY_TAG = {**dict.fromkeys(("user", "human", "question"), "user_tag"),
               **dict.fromkeys(("assistant", "gpt", "bot", "model", "chatbot", "answer"), "assistant_tag"),
               **dict.fromkeys(("tool", "observation", "ipython", "tool_response"), "observation_tag"),
               **dict.fromkeys(("function", "function_call", "tool_call", "tool_calls"), "function_tag"),
               **dict.fromkeys(("system", "developer"), "system_tag")}


def effective_stage(entry, usage) -> str:
    """The stage whose processor judges the samples: the config's, else the one the data is made for. A stage
    that LLaMA-Factory's ranking gate rejects outright (reported by the link rules) falls back the same way."""
    natural = {"ranking": "rm", "kto": "kto"}.get(entry.kind, "sft")
    if natural == "sft" and entry.formatting == "alpaca" and not entry.columns.get("response") \
            and not entry.columns.get("query") and not entry.columns.get("history"):
        natural = "pt"  # one text column (e.g. `"columns": {"prompt": "text"}`): pretraining data
    # Anything else with no config to give the stage is judged as LLaMA-Factory's default, sft (the engine says so).
    stage = usage.stage if usage is not None else None
    if stage is None:
        return natural
    if (stage == "rm" and entry.ranking is False) or (stage != "rm" and entry.ranking is True):
        return natural
    return stage


def accessed_columns(entry) -> Dict[str, str]:
    """{field name: columns key} for the fields LLaMA-Factory indexes with example[...] (KeyError if no row has
    them). The openai converter reads system and tools with .get(), so those never raise."""
    cols = entry.columns
    if entry.formatting == "alpaca":
        keys = ["prompt", "query", "history", "system", "tools", "images", "videos", "audios", "kto_tag"]
        keys += ["chosen", "rejected"] if entry.ranking else ["response"]
    else:
        keys = ["messages", "images", "videos", "audios", "kto_tag"]
        # sharegpt reads the system field only for samples without a leading system message (see finish())
        keys += ["tools", "system"] if entry.formatting == "sharegpt" else []
        keys += ["chosen", "rejected"] if entry.ranking else []
    out: Dict[str, str] = {}
    for key in keys:
        if isinstance(cols.get(key), str) and cols.get(key):
            out.setdefault(cols[key], key)
    return out


class SampleChecker:
    def __init__(self, entry, usage: Optional[DatasetUsage] = None, settings=None):
        from lfgate.settings import Settings

        self.entry = entry
        self.usage = usage or DatasetUsage()
        settings = settings or Settings()
        self.stage = effective_stage(entry, self.usage)
        self.media_dir = self.usage.media_dir or entry.dataset_dir
        self.cutoff_len = self.usage.cutoff_len if self.stage != "pt" else None
        self.placeholders = tuple((col, kind, settings.placeholders.get(kind, f"<{kind}>"))
                                  for col, kind in _MEDIA_KINDS)
        self.chat = entry.formatting in ("sharegpt", "openai")
        self.mapping = tag_mapping(entry.tags)
        self.columns = accessed_columns(entry)
        # counters (all mergeable)
        self.total = self.kept = self.crashed = 0
        self.max_index = -1
        self.pending_columns = set(self.columns)  # fields not yet seen in any record
        self.some_fields: Tuple[str, ...] = ()  # a record's field names, for a did-you-mean on a missing column
        self.unread_fields = common.unread_default_fields(entry)  # default fields a partial `columns` ignores
        self.unread = Tally()
        self.messages_seen = self.role_key_seen = self.content_key_seen = self.leading_system_missing = False
        self.roles, self.undeclared, self.missing_role = Tally(), Tally(), Tally()
        self.rewritten, self.double_encoded, self.no_media, self.pt_extra = Tally(), Tally(), Tally(), Tally()
        self.kto_bool, self.dataset_crash, self.no_response_column = Tally(), Tally(), Tally()
        self.kto_types = [0, 0]  # undesirable, desirable
        self.media = {col: 0 for col, _ in _MEDIA_KINDS}
        self.placeholder_counts = {kind: 0 for _, kind in _MEDIA_KINDS}
        self.samples_with_media = 0
        # cutoff_len: every kept sample counted in tokens (lfgate/tokens), the cut ones named
        self.count_plan = count_plan(self.usage, self.cutoff_len) if self.cutoff_len else None
        self.truncation = Truncation(self.count_plan.cutoff_len, self.count_plan.spec.exact) \
            if self.count_plan is not None and self.count_plan.cutoff_len else None
        self._counter: Optional[Counter] = None  # made on the first sample counted: loads once per process
        # (index, status) of the last sample seen, for the batch-crash check
        self.kto_prev: Optional[Tuple[int, int]] = None
        self.kto_edges: Dict[int, int] = {}
        self.kto_crash: Optional[int] = None
        self._tools_cache: Dict[str, Optional[str]] = {}
        self._images: Optional[ImageChecker] = None  # made on the first image

    # -- per record --------------------------------------------------------------------------------------------
    def check(self, index: int, value) -> List[Finding]:
        out: List[Finding] = []
        self.total += 1
        if index > self.max_index:
            self.max_index = index
        if self.pending_columns and isinstance(value, dict):
            for column in [c for c in self.pending_columns if c in value]:
                self.pending_columns.discard(column)
            if not self.some_fields:
                self.some_fields = tuple(k for k in value if isinstance(k, str))[:100]
        if self.unread_fields and isinstance(value, dict):
            for field in self.unread_fields:
                if value.get(field) not in (None, "", [], {}):
                    self.unread.add(field, index, (field,))
        try:
            aligned = align(value, self.entry, self.media_dir)
        except ConversionError as err:
            self.crashed += 1
            self._crash(index, err, out)
            self._kto_status(index, _OTHER)
            return out
        if self.chat:
            self._count_roles(index, value)
        stage = self.stage
        kept = kept_by_stage(aligned, stage)
        reason = self._converter_problems(index, aligned, kept, out)
        if self.entry.formatting == "alpaca":
            reason = self._alpaca(index, value, aligned, reason, out)
        if self.entry.ranking and not kept and reason is None and stage == "rm":
            reason = self._ranking_reason(value)
        kto_col = self.entry.columns.get("kto_tag")
        if kto_col:
            reason = self._kto(index, value, aligned, kto_col, kept, reason, out)
        if kept:
            self.kept += 1
            self._kept(index, value, aligned, out)
        elif stage == "pt":
            out.append(Finding(common.PRETRAIN_CRASH, "pretraining reads the first message of every sample, and "
                               f"this one was blanked by the converter{': ' + reason[1] if reason else ''}; "
                               "LLaMA-Factory raises IndexError. Fix or remove the sample.", index,
                               reason[0] if reason else ()))
        elif reason is not None and reason[2] is not None:
            out.append(Finding(reason[2], f"{reason[1]}: the {stage} stage drops this sample. {reason[3]}", index,
                               reason[0]))
        elif reason is None:
            out.append(Finding(common.SAMPLE_DROPPED, self._drop_message(aligned), index,
                               (self.entry.columns.get("messages"),) if self.chat else ()))
        return out

    def _drop_message(self, aligned) -> str:
        if self.chat and not aligned.prompt and not aligned.response:
            return "the conversation has no messages: the stage drops this sample. Add the messages or remove it."
        return (f"the {self.stage} stage needs {_SHAPES[self.stage]}, and this sample has a prompt of "
                f"{len(aligned.prompt)} and {len(aligned.response)} responses: it is dropped. Give it that shape.")

    def _crash(self, index, err: ConversionError, out) -> None:
        if err.kind in _DATASET_WIDE_CRASHES:
            self.dataset_crash.add(err.kind, index, err.path, f"{err.message} ({err.raises})")
            return
        rule = _CRASH_RULES.get(err.kind, common.RECORD_CRASH)
        out.append(Finding(rule, f"{err.message}: LLaMA-Factory raises {err.raises} while converting the dataset. "
                           + _CRASH_FIX.get(err.kind, "Fix the value at this place."), index, err.path))

    def _count_roles(self, index, value) -> None:
        tags = self.entry.tags
        role_tag, content_tag = tags.get("role_tag"), tags.get("content_tag")
        column = self.entry.columns.get("messages")
        messages = value.get(column)
        if not isinstance(messages, list):
            return
        mapping, roles, undeclared = self.mapping, self.roles, self.undeclared
        role_counts = roles.counts
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            self.messages_seen = True
            if not self.content_key_seen and content_tag in message:
                self.content_key_seen = True
            if role_tag not in message:
                self.missing_role.add(None, index, (column, i))
                continue
            self.role_key_seen = True
            role = message[role_tag]
            if role is None:  # Arrow reads a null role as it reads a missing one: the converter drops the sample
                self.missing_role.add(None, index, (column, i))
                continue
            if not isinstance(role, str):
                continue
            if role in role_counts:  # hot path: a known role, and this checker sees samples in order
                role_counts[role] += 1
            else:
                roles.add(role, index, (column, i, role_tag))
            if role not in mapping:
                undeclared.add(role, index, (column, i, role_tag))
        system_tag = tags.get("system_tag")
        if not (system_tag and messages and isinstance(messages[0], dict) and messages[0].get(role_tag) == system_tag):
            self.leading_system_missing = True  # the converter reads the system field for this sample
        if self.entry.ranking:
            for key in ("chosen", "rejected"):
                col = self.entry.columns.get(key)
                answer = value.get(col) if col else None
                if isinstance(answer, dict) and isinstance(answer.get(role_tag), str):
                    roles.add(answer[role_tag], index, (col, role_tag))

    # -- what the converter logged or did silently ---------------------------------------------------------------
    def _converter_problems(self, index, aligned, kept, out):
        """Findings for the converter's problems; returns the drop reason (path, message, rule) or None."""
        reason = None
        for problem in aligned.problems:
            kind = problem.kind
            if kind == "role" and reason is None:
                reason = self._role_reason(problem)
            elif kind == "count" and reason is None:
                reason = self._count_reason(problem)
            elif kind == "trailing-tools":
                out.append(Finding(openai.TRAILING_TOOLS, f"the last {problem.detail} tool message(s) have no "
                                   "message after them: the openai converter drops them silently. End the "
                                   "conversation with the assistant message that uses them.", index, problem.path))
            elif kind == "double-encoded":
                self.double_encoded.add(kind, index, problem.path)
            elif kind == "system-rewritten":
                self.rewritten.add(kind, index, problem.path, problem.detail)
            elif kind == "history-ignored":
                out.append(Finding(alpaca.HISTORY_IGNORED, f"history is a {problem.detail}, not a list: "
                                   "LLaMA-Factory ignores it silently. Write it as a list of [instruction, "
                                   "response] pairs.", index, problem.path))
            elif kind == "ranking-role":
                role = problem.detail
                mapped = self.mapping.get(role) if declared(role, self.mapping) else None
                if mapped not in (ASSISTANT, FUNCTION):  # the openai converter compares raw values with roles
                    out.append(Finding(ranking.HUMAN_ROLE, f"`{problem.path[0]}` has role {role!r} "
                                       f"({mapped}): LLaMA-Factory keeps the sample and trains this answer as a "
                                       f"{mapped} message. Give it the assistant role "
                                       f"{self.entry.tags.get('assistant_tag')!r}.", index, problem.path))
            elif kind == "media-missing" and kept:
                out.append(self._media_missing(index, problem))
        return reason

    def _role_reason(self, problem):
        role, parity = problem.detail
        tags = self.entry.tags
        path = problem.path
        openai_mode = self.entry.formatting == "openai"
        system_tag = tags.get("system_tag")
        expected = "user or observation" if parity == 0 else "assistant or function"
        position = path[1] + 1 if len(path) > 1 and isinstance(path[1], int) else None
        where = f"message {position}" if position else "a message"
        if role is None and not openai_mode:  # summarised in finish(): a drop, or a KeyError if no message has it
            return (path, f"{where} has no {tags.get('role_tag')!r} key", None, "")
        if (role == system_tag and system_tag) or (openai_mode and role == "system"):
            return (path, f"{where} is a system message, but only the first message may be one",
                    sharegpt.SYSTEM_POSITION, "Move it first, or into the system column.")
        if not openai_mode and not declared(role, self.mapping):
            if role == "system" and not system_tag:
                return (path, f"{where} has role 'system' but `tags.system_tag` is null (a partial `tags` object "
                        "resets it)", sharegpt.SYSTEM_POSITION, "Add \"system_tag\": \"system\" to `tags`.")
            key = _LIKELY_TAG.get(str(role).lower())
            hint = f" (e.g. \"{key}\": {json.dumps(role)})" if key else ""
            return (path, f"{where} has role {role!r}, which no tag declares ({self._declared()})",
                    sharegpt.ROLE_UNKNOWN, f"Declare it in `tags`{hint} or fix the role.")
        shown = role if openai_mode else f"{role!r} ({self.mapping.get(role)})"
        return (path, f"{where} has role {shown} where {expected} belongs (user and assistant turns must "
                "alternate, starting with the user)", sharegpt.ROLE_ORDER, "Reorder or merge the messages.")

    def _count_reason(self, problem):
        n = problem.detail
        if self.entry.ranking:
            return (problem.path, f"the prompt has {n} messages (not counting a leading system message), but a "
                    "ranking prompt needs an odd number (it ends with the user turn that chosen/rejected answer)",
                    sharegpt.MESSAGE_COUNT, "End the prompt with the user turn.")
        if n == 0:
            return None
        return (problem.path, f"the conversation has {n} messages (not counting a leading system message), but "
                "needs an even number (it must end with the assistant answer to train)", sharegpt.MESSAGE_COUNT,
                "End it with an assistant message, or drop the last one.")

    def _declared(self) -> str:
        parts = [f"{v!r} ({k})" for k in _TAG_KEYS for v in [self.entry.tags.get(k)] if v is not None]
        return "declared: " + ", ".join(parts) if parts else "no role tag is declared"

    def _media_missing(self, index, problem) -> Finding:
        media = problem.detail
        severity = None
        if media.startswith(("http://", "https://")):
            text = f"{media!r} is a URL: LLaMA-Factory opens media as local paths only. Download it"
        elif os.path.isfile(media):
            severity = Severity.WARNING
            text = (f"{media!r} is not under media_dir {self.media_dir!r}; it exists relative to the current "
                    "directory, so it loads only when training is launched from here. Make it relative to "
                    "media_dir")
        else:
            text = f"{media!r} does not exist under media_dir {self.media_dir!r}. Fix the path or add the file"
        return Finding(multimodal.MEDIA_MISSING, text + ".", index, problem.path, severity)

    # -- per formatting -------------------------------------------------------------------------------------------
    def _alpaca(self, index, value, aligned, reason, out):
        cols = self.entry.columns
        if reason is None and self.stage in ("sft", "rm", "kto") and not aligned.response:
            col = cols.get("response")
            out_value = value.get(col) if col else None
            if self.entry.ranking:
                return None
            if not col:  # every sample alike: summarised once in finish()
                self.no_response_column.add("response", index, ())
                return ((), "`columns.response` is not set", None, "")
            typo = _misspelt_field(col, value) if col not in value else None
            if typo:
                return ((typo,), f"the record has no `{col}` but has `{typo}`: did you mean `{col}`? LLaMA-Factory "
                        f"reads `{col}` (`columns.response`), so the sample has no response",
                        alpaca.OUTPUT_MISSING, f"Rename `{typo}` to `{col}`.")
            shown = "null" if out_value is None else f"a {type(out_value).__name__}"
            return ((col,), f"`{col}` is {shown}, not a string, so the sample has no response",
                    alpaca.OUTPUT_MISSING, "Give it a string output (or train the data with ppo).")
        return reason

    def _ranking_reason(self, value):
        cols = self.entry.columns
        want, kind = (str, "strings") if self.entry.formatting == "alpaca" else (dict, "single message objects")
        for key in ("chosen", "rejected"):
            col = cols.get(key)
            answer = value.get(col)
            if not isinstance(answer, want):
                shown = "null" if answer is None else f"a {type(answer).__name__}"
                return ((col,), f"`{col}` is {shown}, but chosen and rejected must both be {kind}, else "
                        "LLaMA-Factory converts the sample as a normal one", ranking.SHAPE,
                        f"Make both {kind}.")
        return None

    def _kto(self, index, value, aligned, kto_col, kept, reason, out):
        tag = value.get(kto_col)
        stage = self.stage
        if not isinstance(tag, bool):
            severity = None if stage == "kto" else Severity.WARNING
            shown = "null" if tag is None else f"{tag!r} (a {type(tag).__name__})"
            out.append(Finding(kto.TAG_NOT_BOOL, f"`{kto_col}` is {shown}, not a JSON boolean: LLaMA-Factory "
                               "treats the sample as a normal one" + (", and the kto stage drops it" if stage == "kto"
                                                                       else "") + ". Write true or false.",
                               index, (kto_col,), severity))
            if stage == "kto" and reason is None:
                reason = ((kto_col,), f"`{kto_col}` is not a JSON boolean", None, "")
        else:
            self.kto_bool.add(tag, index, (kto_col,))
            if stage == "sft" and reason is None:
                reason = ((kto_col,), "a boolean kto_tag", None, "")  # summarised once as DS453 in finish()
        if stage == "kto":
            response = aligned.response
            if kept:
                desirable = bool(response[0].get("content"))
                self.kto_types[desirable] += 1
                if tag is True and not desirable:
                    out.append(Finding(kto.EMPTY_DESIRABLE, f"`{kto_col}` is true but the response is empty: the "
                                       "KTO processor treats the sample as undesirable. Fill in the response.",
                                       index, _source(aligned, len(aligned.prompt))))
                status = _VALID
            elif not response or (len(response) < 2 and not response[0].get("content")):
                status = _HAZARD
            else:
                status = _OTHER
            self._kto_status(index, status)
        return reason

    # -- what the template and the multimodal plugin see (kept samples only) ------------------------------------
    def _kept(self, index, value, aligned, out) -> None:
        stage = self.stage
        lists = stage_messages(aligned, stage)
        # every message the template formats, once (rm's two lists share the prompt)
        messages, paths = lists[0]
        if len(lists) > 1:
            messages, paths = messages + lists[1][0][-1:], paths + lists[1][1][-1:]
        role_reported = content_reported = False
        for message, path in zip(messages, paths):
            role, content = message["role"], message["content"]
            if role not in _TEMPLATE_ROLES and not role_reported:
                role_reported = True
                out.append(Finding(common.UNEXPECTED_ROLE, f"this message reaches the template with role "
                                   f"{role!r}, which raises NotImplementedError(\"Unexpected role\"): "
                                   f"{self._role_hint()}", index, _role_path(path, self.entry)))
            if not isinstance(content, str):
                if not content_reported:
                    content_reported = True
                    shown = "null" if content is None else f"a {type(content).__name__}"
                    out.append(Finding(common.CONTENT_NOT_STRING, f"the content is {shown}: the template raises "
                                       "\"Expected a string\" at tokenization. Make it a string.", index,
                                       path or ()))
            elif role == FUNCTION:
                problem = tools.function_call_problem(content, self.usage.template)
                if problem:
                    out.append(Finding(tools.FUNCTION_CALL, f"this function-call content {problem}: "
                                       "LLaMA-Factory raises at tokenization. Write {\"name\": ..., "
                                       "\"arguments\": {...}}.", index, path or ()))
        if stage == "pt":
            first = aligned.prompt[0]["content"] if aligned.prompt else None
            if isinstance(first, str) and not first:
                out.append(Finding(common.EMPTY_USER, "the text is empty: pretraining on an empty document. "
                                   "Remove the sample.", index, _source(aligned, 0)))
            if len(aligned.prompt) > 1 or aligned.response:
                self.pt_extra.add("extra", index, ())
            return
        self._empty_turns(index, aligned, out)
        self._system_and_tools(index, value, aligned, out)
        self._media(index, aligned, lists, out)
        if self.truncation is not None:
            self._truncation(index, aligned)

    def _role_hint(self) -> str:
        if self.missing_role:
            return ("a message has no role key and matched a tag that a partial `tags` object set to null. Give "
                    "every message a role and declare all tags")
        return "declare the role in `tags` as a user, assistant, observation or function tag"

    def _empty_turns(self, index, aligned, out) -> None:
        prompt = aligned.prompt
        if prompt and prompt[-1]["role"] == USER and prompt[-1]["content"] == "":
            what = ("the instruction and input are empty" if self.entry.formatting == "alpaca"
                    else "the last user message is empty")
            out.append(Finding(common.EMPTY_USER, f"{what}: the answer is trained on no question. Fill it in or "
                               "remove the sample.", index, _source(aligned, len(prompt) - 1)))
        if self.stage in ("sft", "rm"):
            for k, message in enumerate(aligned.response[:2]):
                if message["content"] == "":
                    out.append(Finding(common.EMPTY_RESPONSE, "the response is empty: the model learns to answer "
                                       "with only the end-of-sequence token. Fill it in or remove the sample.",
                                       index, _source(aligned, len(prompt) + k)))
                    break

    def _system_and_tools(self, index, value, aligned, out) -> None:
        cols = self.entry.columns
        system = aligned.system
        if system and not isinstance(system, str):
            path: tuple = (cols.get("system"),) if cols.get("system") else ()
            if self.chat:
                messages = value.get(cols.get("messages"))
                first = messages[0] if isinstance(messages, list) and messages else None
                if isinstance(first, dict) and first.get(self.entry.tags.get("role_tag")) == \
                        self.entry.tags.get("system_tag"):
                    path = (cols.get("messages"), 0, self.entry.tags.get("content_tag"))
            out.append(Finding(common.SYSTEM_NOT_STRING, f"the system prompt is a {type(system).__name__}: the "
                               "template raises a TypeError at tokenization. Make it a string.", index, path))
        if aligned.tools:
            problem = self._tools_problem(aligned.tools)
            if problem:
                out.append(Finding(tools.TOOLS_INVALID, f"`{cols.get('tools')}` {problem}: LLaMA-Factory raises "
                                   "at tokenization. Store it as a JSON string of a list of tools.", index,
                                   (cols.get("tools"),)))

    def _tools_problem(self, value):
        if not isinstance(value, str):
            return tools.tools_problem(value, self.usage.template)
        cache = self._tools_cache
        if value in cache:
            return cache[value]
        problem = tools.tools_problem(value, self.usage.template)
        if len(cache) >= _TOOLS_CACHE_SIZE:
            cache.clear()
        cache[value] = problem
        return problem

    def _media(self, index, aligned, lists, out) -> None:
        # one string per message list ("\0" keeps placeholders from forming across messages), counted in C
        texts = ["\0".join([m["content"] for m in messages if isinstance(m["content"], str)])
                 for messages, _ in lists]
        if not (aligned.images or aligned.videos or aligned.audios):
            # the common text-only sample: with no media and no placeholder there is nothing to count or report
            joined = texts[0] if len(texts) == 1 else "\0".join(texts)
            for _, _, placeholder in self.placeholders:
                if placeholder in joined:
                    break
            else:
                return
        has_media = False
        for (column_key, kind, placeholder), media in zip(self.placeholders, (aligned.images, aligned.videos,
                                                                             aligned.audios)):
            n_media = len(media) if media else 0
            if n_media:
                has_media = True
                self.media[column_key] += n_media
            counts = [text.count(placeholder) for text in texts]
            if counts:
                self.placeholder_counts[kind] += counts[0]
            for n, (messages, paths) in zip(counts, lists):
                if n == n_media:
                    continue
                if n_media == 0:
                    where = next((p for m, p in zip(messages, paths)
                                  if isinstance(m["content"], str) and placeholder in m["content"]), None)
                    self.no_media.add(kind, index, where or (), placeholder)
                else:
                    column = self.entry.columns.get(column_key)
                    where = " (prompt + one answer)" if self.stage in ("rm", "kto") else ""
                    out.append(Finding(multimodal.COUNT, f"the messages{where} hold {n} {placeholder} placeholder"
                                       f"{'s' if n != 1 else ''} but `{column}` lists {n_media} {column_key}: "
                                       f"multimodal templates raise \"The number of {column_key} does not match the "
                                       f"number of {placeholder} tokens\". Use one placeholder per item.", index,
                                       (column,)))
                break
        if has_media:
            self.samples_with_media += 1
        if aligned.images or aligned.videos:
            self._check_images(index, aligned.images, aligned.videos, out)

    def _check_images(self, index, images, videos, out) -> None:
        from lfgate.validator import media

        if self._images is None:
            self._images = media.ImageChecker(self.usage)
        columns = (self.entry.columns.get("images") or "images", self.entry.columns.get("videos") or "videos")
        out.extend(self._images.check_sample(index, images, videos, columns,
                                             lambda rule, message, path: Finding(rule, message + ".", index, path)))

    def truncation_facts(self) -> dict:
        """The tally's facts, out of every kept sample LLaMA-Factory loads (the fast paths' clean records were
        proven within cutoff_len without being counted)."""
        assert self.truncation is not None and self.count_plan is not None
        facts = self.truncation.facts()
        limit = self.count_plan.max_samples
        facts["counted"] = min(self.kept, limit) if limit is not None and self.entry.num_samples is None \
            else self.kept
        return facts

    def _truncation(self, index, aligned) -> None:
        plan, tally = self.count_plan, self.truncation
        assert plan is not None and tally is not None
        limit = plan.max_samples
        if limit is not None and index >= limit and self.entry.num_samples is None:
            return  # max_samples: LLaMA-Factory loads the first records only (data/loader.py), so only those count
        count = self._counter
        if count is None:
            count = self._counter = counter(plan.spec)
        length = measure(aligned, self.stage, plan, count)
        if length is not None:
            joined = "" if tally.exact else "\n".join(
                t for t in (_str(m.get("content")) for m in aligned.prompt + aligned.response) if t)
            tally.add(index, length, count, joined)

    # -- KTO batch crash: a hazard sample right before a valid one, cyclically inside a batch --------------------
    def _kto_status(self, index, status) -> None:
        if self.stage != "kto":
            return
        prev = self.kto_prev
        if prev is not None and prev[0] == index - 1 and index % KTO_BATCH != 0:
            if prev[1] == _HAZARD and status == _VALID:
                self._kto_crash_at(prev[0])
        else:
            if prev is not None:
                self.kto_edges[prev[0]] = prev[1]
            self.kto_edges[index] = status
        if index % KTO_BATCH in (0, KTO_BATCH - 1):
            self.kto_edges[index] = status
        self.kto_prev = (index, status)

    def _kto_crash_at(self, index) -> None:  # index: the broken sample whose response a valid one reads
        if self.kto_crash is None or index < self.kto_crash:
            self.kto_crash = index

    def _kto_flush(self) -> None:
        if self.kto_prev is not None:
            self.kto_edges[self.kto_prev[0]] = self.kto_prev[1]
            self.kto_prev = None

    def _kto_resolve(self) -> None:
        self._kto_flush()
        edges = self.kto_edges
        for index, status in edges.items():
            if status != _VALID:
                continue
            if index % KTO_BATCH == 0:  # its neighbour is the last sample of the batch
                before = min(index + KTO_BATCH, self.max_index + 1) - 1
            else:
                before = index - 1
            if edges.get(before) == _HAZARD:
                self._kto_crash_at(before)

    # -- merging and the dataset level -----------------------------------------------------------------------------
    def merge(self, other: SampleChecker) -> SampleChecker:
        """Add ``other``'s counts (a worker's checker over another chunk of the same dataset) to this one. Walks
        every attribute by its kind, so a new counter is merged without being listed here; a kind it does not
        know is an error, not a counter silently left at one worker's value."""
        self._kto_flush()
        other._kto_flush()
        for name, mine in vars(self).items():
            if name in _NOT_COUNTERS:
                continue
            theirs = getattr(other, name)
            if name == "max_index":
                self.max_index = max(mine, theirs)
            elif name == "pending_columns":  # not yet seen: by neither
                mine &= theirs
            elif name == "kto_edges":
                mine.update(theirs)
            elif name == "kto_crash":
                if theirs is not None:
                    self._kto_crash_at(theirs)
            elif isinstance(mine, (bool, tuple)):  # "seen" flags; tuples: the first worker's sample that has one
                setattr(self, name, mine or theirs)
            elif isinstance(mine, int):
                setattr(self, name, mine + theirs)
            elif isinstance(mine, (Tally, Truncation)):
                mine.merge(theirs)
            elif mine is None and theirs is None:
                continue
            elif isinstance(mine, list):
                setattr(self, name, [a + b for a, b in zip(mine, theirs)])
            elif isinstance(mine, dict):
                for key in mine:
                    mine[key] += theirs[key]
            else:
                raise TypeError(f"SampleChecker.merge does not know how to merge {name!r} ({type(mine).__name__})")
        return self

    def finish(self) -> List[Finding]:
        from lfgate.validator.samples.finish import dataset_findings

        if self.stage == "kto":
            self._kto_resolve()
        return dataset_findings(self)

    def facts(self) -> dict:
        facts = {
            "samples": self.total, "stage": self.stage, "formatting": self.entry.formatting,
            "kept": self.kept, "dropped": self.total - self.kept - self.crashed, "crashed": self.crashed,
            "media": dict(self.media), "samples_with_media": self.samples_with_media,
            "placeholders": dict(self.placeholder_counts),
            "has_media": self.samples_with_media > 0,
            "has_placeholders": any(self.placeholder_counts.values()) or bool(self.no_media),
        }
        if self.stage == "kto":
            facts["kto_desirable"], facts["kto_undesirable"] = self.kto_types[1], self.kto_types[0]
        if self.truncation is not None:
            facts["truncation"] = self.truncation_facts()
        return facts


_SHAPES = {"sft": "an odd number of prompt messages and exactly one response",
           "rm": "an odd number of prompt messages and two responses (chosen, rejected)",
           "kto": "an odd number of prompt messages and a boolean kto_tag",
           "ppo": "an odd number of prompt messages", "pt": "at least one message"}
_CRASH_FIX = {
    "history-pair": "Write history as a list of [instruction, response] pairs.",
    "query-type": "Make instruction and input strings.",
    "messages-type": "Make it a list of message objects.",
    "ranking-role-unknown": "Give chosen and rejected the assistant role.",
    "role-unknown": "Declare the role in `tags` (e.g. \"observation_tag\": \"tool\") or rewrite it.",
    "content-type": "Make every content a string.",
    "system-type": "Make the system prompt a string.",
    "record-type": "Make every record a JSON object.",
    "tool-calls": "Give each tool call a `function` object with `name` and `arguments`.",
}


def _source(aligned, k):
    sources = aligned.sources
    return (sources[k] or ()) if k < len(sources) else ()


def _role_path(path, entry):
    if path and len(path) == 3 and isinstance(path[1], int):
        return (path[0], path[1], entry.tags.get("role_tag"))
    return path or ()


def _misspelt_field(column: str, record: dict):
    """A field of the record that is a likely typo of the column LLaMA-Factory reads (`ouput` for `output`)."""
    import difflib

    names = [k for k in record if isinstance(k, str) and k != column]
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.8)
    return close[0] if close else None


def _str(value) -> str:
    return value if isinstance(value, str) else ""
