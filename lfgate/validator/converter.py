"""LLaMA-Factory's dataset converter (data/converter.py), emulated exactly, plus what each stage's processor keeps.

``align(record, entry)`` turns one raw record into the aligned ("standard") form that LLaMA-Factory's
AlpacaDatasetConverter / SharegptDatasetConverter / OpenAIDatasetConverter produce at stage E (spec §2.1-§2.4,
§3.1). It is what ``lfgate check`` judges and what the built-in runner trains on, so it follows LLaMA-Factory
line by line, including its quirks:

- a broken sharegpt/openai sample (bad role order or count) comes out blanked (``prompt == response == []``) and
  ``broken`` is set; LLaMA-Factory only logs it, and the stage's processor drops it later (``kept_by_stage``);
- where LLaMA-Factory raises (``KeyError``, ``TypeError``, ``ValueError``), ``align`` raises ``ConversionError``
  naming the exception LLaMA-Factory would raise and the JSON path of the value that causes it;
- what LLaMA-Factory only logs or does silently is recorded in ``Aligned.problems`` as ``Problem(kind, path,
  detail)`` values, so the checker can report them with their place.

Records are read as LLaMA-Factory's Arrow loader presents them: a field missing from a record, or a key missing
from one message, is ``None`` (Arrow fills it in when other rows have it). A field missing from *every* row is a
``KeyError`` in LLaMA-Factory; only the whole dataset can tell, so the sample checker reports that at the end.
"""

from __future__ import annotations

import json
import os
from typing import Any, List, NamedTuple, Optional, Tuple

USER, ASSISTANT, SYSTEM, FUNCTION, OBSERVATION = "user", "assistant", "system", "function", "observation"
STAGES = ("pt", "sft", "rm", "ppo", "kto")
MEDIA_KINDS = ("images", "videos", "audios")
_OPENAI_SHORT_SYSTEM = "detailed thinking off"  # converter.py: the openai converter's system rewriting
_OPENAI_TOOL_JOIN = "\n</tool_response>\n<tool_response>\n"


class ConversionError(Exception):
    """LLaMA-Factory raises here. ``raises`` is its exception (e.g. "KeyError: 'bot'"), ``path`` the JSON path."""

    def __init__(self, message: str, path: tuple = (), raises: str = "", kind: str = "crash"):
        super().__init__(message)
        self.message = message
        self.path = path
        self.raises = raises
        self.kind = kind


class Problem(NamedTuple):
    """Something LLaMA-Factory logs or does silently while converting: kind, JSON path, detail."""

    kind: str
    path: tuple
    detail: Any = None


class Aligned:
    """One converted sample: LLaMA-Factory's _prompt, _response, _system, _tools, _images, _videos, _audios.

    ``sources`` is parallel to ``prompt + response``: the JSON path of each message in the record (None for the
    empty assistant messages the KTO branch adds and for merged openai tool responses' later parts).
    """

    __slots__ = ("prompt", "response", "system", "tools", "images", "videos", "audios", "broken", "problems",
                 "sources")

    def __init__(self, prompt, response, system, tools, images, videos, audios, broken, problems, sources):
        self.prompt = prompt
        self.response = response
        self.system = system
        self.tools = tools
        self.images = images
        self.videos = videos
        self.audios = audios
        self.broken = broken
        self.problems = problems
        self.sources = sources

    def as_dict(self) -> dict:
        return {"_prompt": self.prompt, "_response": self.response, "_system": self.system, "_tools": self.tools,
                "_images": self.images, "_videos": self.videos, "_audios": self.audios}

    def __repr__(self) -> str:
        return f"Aligned({self.as_dict()!r}, broken={self.broken}, problems={self.problems!r})"


def declared(role, mapping) -> bool:
    """`role in mapping` for any JSON value: a list or object role is unhashable (LLaMA-Factory's
    `tag_mapping[role]` raises TypeError there; for the caller it is a role no tag declares)."""
    try:
        return role in mapping
    except TypeError:
        return False


def _get(record: dict, column: Optional[str]):
    """example[column] as the Arrow-backed example returns it (None when this row lacks the field)."""
    return record.get(column)


def _msg_field(message, key, path: tuple):
    if not isinstance(message, dict):
        raise ConversionError(f"the message is a {type(message).__name__}, not an object", path,
                              "TypeError: string indices must be integers" if isinstance(message, str)
                              else f"TypeError: {type(message).__name__} indices", kind="messages-type")
    if key is None:  # a tag reset to None by a partial `tags` object (spec §1.4)
        raise ConversionError("the tag that names this key is null (a partial `tags` object resets it)", path,
                              "KeyError: None", kind="null-tag")
    return message.get(key)


# -- media (converter.py _find_medias, spec §3.1) -------------------------------------------------------------

def find_medias(value, column: str, load_from, media_dir: str, problems: list):
    """The media list LLaMA-Factory keeps: None/[] -> None, a scalar -> [scalar], local paths joined to media_dir
    when that file exists (else the original path is kept and LLaMA-Factory logs a warning)."""
    if value is None:
        return None
    if not isinstance(value, list):
        medias = [value]
    elif len(value) == 0:
        return None
    else:
        medias = value[:]
    if load_from in ("script", "file"):
        first = medias[0]
        if isinstance(first, str):
            for i, media in enumerate(medias):
                medias[i] = _resolve(media, media_dir, (column, i), problems)
        elif isinstance(first, list):  # a video given as a list of frames
            for i, frames in enumerate(medias):
                if not isinstance(frames, list):
                    raise ConversionError("a video frame list mixes lists and single paths", (column, i),
                                          "TypeError: object of type ... has no len()")
                resolved = frames[:]
                for j, frame in enumerate(frames):
                    resolved[j] = _resolve(frame, media_dir, (column, i, j), problems)
                medias[i] = resolved
    return medias


def _resolve(media, media_dir: str, path: tuple, problems: list):
    if not isinstance(media, str):
        raise ConversionError(f"media path is a {type(media).__name__}, not a string", path,
                              "TypeError: join() argument must be str")
    joined = os.path.join(media_dir, media)
    if os.path.isfile(joined):
        return joined
    problems.append(Problem("media-missing", path, media))
    return media


def _medias(record, entry, media_dir, problems):
    cols = entry.columns
    out = []
    for kind in MEDIA_KINDS:
        column = cols.get(kind)
        out.append(find_medias(_get(record, column), column, entry.load_from, media_dir, problems)
                   if column else None)
    return out


# -- alpaca (converter.py AlpacaDatasetConverter, spec §2.2) --------------------------------------------------

def _align_alpaca(record: dict, entry, media_dir: str) -> Aligned:
    cols = entry.columns
    problems: list = []
    prompt: list = []
    sources: list = []
    history_col = cols.get("history")
    if history_col:
        history = _get(record, history_col)
        if isinstance(history, list):
            for i, pair in enumerate(history):
                try:
                    old_prompt, old_response = pair
                except (TypeError, ValueError):
                    size = len(pair) if hasattr(pair, "__len__") else None
                    raises = ("ValueError: too many values to unpack (expected 2)" if size and size > 2 else
                              "ValueError: not enough values to unpack (expected 2)" if size is not None else
                              f"TypeError: cannot unpack non-iterable {type(pair).__name__} object")
                    raise ConversionError(f"history item {i} is not a [prompt, response] pair", (history_col, i),
                                          raises, kind="history-pair") from None
                prompt.append({"role": USER, "content": old_prompt})
                prompt.append({"role": ASSISTANT, "content": old_response})
                sources.append((history_col, i, 0))
                sources.append((history_col, i, 1))
        elif history is not None:
            problems.append(Problem("history-ignored", (history_col,), type(history).__name__))

    query = []
    query_paths = []
    for key in ("prompt", "query"):
        column = cols.get(key)
        if column:
            text = _get(record, column)
            if text:
                query.append(text)
                query_paths.append((column,))
    for text, path in zip(query, query_paths):
        if not isinstance(text, str):
            raise ConversionError(f"`{path[0]}` is a {type(text).__name__}, not a string", path,
                                  f"TypeError: sequence item {query.index(text)}: expected str instance, "
                                  f"{type(text).__name__} found", kind="query-type")
    prompt.append({"role": USER, "content": "\n".join(query)})
    # where the user turn lives in the record: the first non-empty field, else the configured prompt field
    fallback = next(((cols[k],) for k in ("prompt", "query") if cols.get(k)), ())
    sources.append(query_paths[0] if query_paths else fallback)

    response_col = cols.get("response")
    kto_col = cols.get("kto_tag")
    kto_value = _get(record, kto_col) if kto_col else None
    if kto_col and isinstance(kto_value, bool):
        if response_col is None:
            raise ConversionError("`columns.response` is null", (), "KeyError: None", kind="null-column")
        response = [{"role": ASSISTANT, "content": _get(record, response_col)}]
        empty = {"role": ASSISTANT, "content": ""}
        if kto_value:
            response, rsources = response + [empty], [(response_col,), None]
        else:
            response, rsources = [empty] + response, [None, (response_col,)]
    elif entry.ranking and _ranking_strings(record, cols):
        response = [{"role": ASSISTANT, "content": _get(record, cols["chosen"])},
                    {"role": ASSISTANT, "content": _get(record, cols["rejected"])}]
        rsources = [(cols["chosen"],), (cols["rejected"],)]
    elif response_col and isinstance(_get(record, response_col), str):
        response = [{"role": ASSISTANT, "content": _get(record, response_col)}]
        rsources = [(response_col,)]
    else:  # "unsupervised": LLaMA-Factory keeps it, and drops it later in sft/rm/kto
        response, rsources = [], []

    system_col, tools_col = cols.get("system"), cols.get("tools")
    images, videos, audios = _medias(record, entry, media_dir, problems)
    return Aligned(prompt, response, _get(record, system_col) if system_col else "",
                   _get(record, tools_col) if tools_col else "", images, videos, audios, False, problems,
                   sources + rsources)


def _ranking_strings(record, cols) -> bool:
    chosen_col, rejected_col = cols.get("chosen"), cols.get("rejected")
    if chosen_col is None:  # example[None]
        raise ConversionError("`ranking` is true but `columns.chosen` is not set", (), "KeyError: None",
                              kind="null-column")
    if not isinstance(_get(record, chosen_col), str):
        return False
    if rejected_col is None:
        raise ConversionError("`ranking` is true but `columns.rejected` is not set", (), "KeyError: None",
                              kind="null-column")
    return isinstance(_get(record, rejected_col), str)


def _ranking_dicts(record, cols) -> bool:
    chosen_col, rejected_col = cols.get("chosen"), cols.get("rejected")
    if chosen_col is None:
        raise ConversionError("`ranking` is true but `columns.chosen` is not set", (), "KeyError: None",
                              kind="null-column")
    if not isinstance(_get(record, chosen_col), dict):
        return False
    if rejected_col is None:
        raise ConversionError("`ranking` is true but `columns.rejected` is not set", (), "KeyError: None",
                              kind="null-column")
    return isinstance(_get(record, rejected_col), dict)


# -- sharegpt and openai (converter.py SharegptDatasetConverter / OpenAIDatasetConverter, spec §2.3-§2.4) ------

def tag_mapping(tags: dict) -> dict:
    """{tag value: role}, built in LLaMA-Factory's order: with several null tags, the last role wins for None."""
    return {tags.get("user_tag"): USER, tags.get("assistant_tag"): ASSISTANT,
            tags.get("observation_tag"): OBSERVATION, tags.get("function_tag"): FUNCTION,
            tags.get("system_tag"): SYSTEM}


def _messages(record, entry) -> Tuple[list, str]:
    column = entry.columns.get("messages")
    if column is None:
        raise ConversionError("`columns.messages` is null (a partial `columns` object resets it)", (),
                              "KeyError: None", kind="null-column")
    messages = _get(record, column)
    if isinstance(messages, list):
        return messages, column
    if isinstance(messages, (str, dict)) and len(messages) == 0:
        return [], column
    raise ConversionError(f"`{column}` is {'null' if messages is None else 'a ' + type(messages).__name__}, "
                          "not a list of messages", (column,),
                          "TypeError: object of type 'NoneType' has no len()" if messages is None
                          else "TypeError", kind="messages-type")


def _leading_system(messages, column, tags, record, entry, use_get: bool):
    """(system, first index of the conversation): a leading system message wins over the system column."""
    system_tag, role_tag = tags.get("system_tag"), tags.get("role_tag")
    if system_tag and len(messages) != 0 and _msg_field(messages[0], role_tag, (column, 0)) == system_tag:
        return _msg_field(messages[0], tags.get("content_tag"), (column, 0)), 1, (column, 0)
    system_col = entry.columns.get("system")
    if not system_col:
        return "", 0, None
    if use_get:  # the openai converter reads example.get(system, "")
        return record.get(system_col, ""), 0, (system_col,)
    return _get(record, system_col), 0, (system_col,)


_LAST_SHAREGPT_TAGS: tuple = (None, None, None)  # (tags object, a copy of it, what _sharegpt_tags derived)


def _sharegpt_tags(tags: dict) -> tuple:
    """(mapping, role_tag, content_tag, accept) from `tags`; the same entry converts every record of a dataset,
    so the last result is reused while the tags object is the same and unchanged."""
    global _LAST_SHAREGPT_TAGS
    last, copy, derived = _LAST_SHAREGPT_TAGS
    if last is tags and copy == tags:
        return derived
    derived = (tag_mapping(tags), tags.get("role_tag"), tags.get("content_tag"),
               ((tags.get("user_tag"), tags.get("observation_tag")),
                (tags.get("assistant_tag"), tags.get("function_tag"))))
    _LAST_SHAREGPT_TAGS = (tags, dict(tags), derived)
    return derived


def _align_sharegpt(record: dict, entry, media_dir: str) -> Aligned:
    tags, cols = entry.tags, entry.columns
    mapping, role_tag, content_tag, accept = _sharegpt_tags(tags)
    messages, column = _messages(record, entry)
    system, start, _ = _leading_system(messages, column, tags, record, entry, use_get=False)
    problems: list = []
    aligned, sources = [], []
    broken = False
    fast = role_tag is not None and content_tag is not None
    for turn_idx in range(len(messages) - start):
        index = start + turn_idx
        message = messages[index]
        if fast and type(message) is dict:  # the hot path: _msg_field's checks, inlined
            role = message.get(role_tag)
        else:
            role = _msg_field(message, role_tag, (column, index))
        if role not in accept[turn_idx % 2]:
            problems.append(Problem("role", (column, index, role_tag), (role, turn_idx % 2)))
            broken = True
            break
        aligned.append({"role": mapping[role], "content": message.get(content_tag) if fast
                        else _msg_field(message, content_tag, (column, index))})
        sources.append((column, index, content_tag))
    ranking = bool(entry.ranking)
    if (not ranking and len(aligned) % 2 != 0) or (ranking and len(aligned) % 2 == 0):
        problems.append(Problem("count", (column,), len(aligned)))
        broken = True
    prompt, response, sources = _split(record, entry, aligned, sources, broken, problems, mapping, accept[1])
    tools_col = cols.get("tools")
    images, videos, audios = _medias(record, entry, media_dir, problems)
    return Aligned(prompt, response, system, _get(record, tools_col) if tools_col else "", images, videos, audios,
                   broken, problems, sources)


def _split(record, entry, aligned, sources, broken, problems, mapping, even_tags):
    """The KTO / pairwise / normal split shared by the sharegpt and openai converters."""
    cols, tags = entry.columns, entry.tags
    if broken:
        return [], [], []
    kto_col = cols.get("kto_tag")
    kto_value = _get(record, kto_col) if kto_col else None
    empty = {"role": ASSISTANT, "content": ""}
    if kto_col and isinstance(kto_value, bool):
        if kto_value:
            return aligned[:-1], aligned[-1:] + [empty], sources + [None]
        return aligned[:-1], [empty] + aligned[-1:], sources[:-1] + [None] + sources[-1:]
    if entry.ranking and _ranking_dicts(record, cols):
        role_tag, content_tag = tags.get("role_tag"), tags.get("content_tag")
        chosen_col, rejected_col = cols["chosen"], cols["rejected"]
        chosen, rejected = _get(record, chosen_col), _get(record, rejected_col)
        chosen_role = _msg_field(chosen, role_tag, (chosen_col,))
        rejected_role = _msg_field(rejected, role_tag, (rejected_col,))
        if chosen_role not in even_tags or rejected_role not in even_tags:
            # LLaMA-Factory logs "Invalid role tag" and sets broken_data, which nothing reads: the sample is kept.
            for col, role in ((chosen_col, chosen_role), (rejected_col, rejected_role)):
                if role not in even_tags:
                    problems.append(Problem("ranking-role", (col, role_tag), role))
        response = []
        for col, message, role in ((chosen_col, chosen, chosen_role), (rejected_col, rejected, rejected_role)):
            if not declared(role, mapping):
                raise ConversionError(f"`{col}` has role {role!r}, which no tag declares", (col, role_tag),
                                      f"KeyError: {role!r}", kind="ranking-role-unknown")
            response.append({"role": mapping[role], "content": _msg_field(message, content_tag, (col,))})
        return aligned, response, sources + [(chosen_col, content_tag), (rejected_col, content_tag)]
    return aligned[:-1], aligned[-1:], sources


def _align_openai(record: dict, entry, media_dir: str) -> Aligned:
    tags, cols = entry.tags, entry.columns
    mapping = tag_mapping(tags)
    role_tag, content_tag = tags.get("role_tag"), tags.get("content_tag")
    assistant_tag, function_tag = tags.get("assistant_tag"), tags.get("function_tag")
    observation_tag = tags.get("observation_tag")
    messages, column = _messages(record, entry)
    system, start, _ = _leading_system(messages, column, tags, record, entry, use_get=True)
    problems: list = []
    aligned, sources = [], []
    tool_responses: list = []
    tool_first = None
    for index in range(start, len(messages)):
        message = messages[index]
        role = _msg_field(message, role_tag, (column, index))
        content = _msg_field(message, content_tag, (column, index))
        source = (column, index, content_tag)
        if role in (assistant_tag, function_tag):
            calls = message.get("tool_calls")
            if calls:  # LLaMA-Factory 0.9.5: `if tool_calls := message.get("tool_calls")`
                functions = []
                for k, call in enumerate(calls):
                    if not isinstance(call, dict) or "function" not in call:
                        raise ConversionError("a tool call has no `function` object",
                                              (column, index, "tool_calls", k), "KeyError: 'function'",
                                              kind="tool-calls")
                    functions.append(call["function"])
                    if isinstance(call["function"], dict) and isinstance(call["function"].get("arguments"), str):
                        problems.append(Problem("double-encoded", (column, index, "tool_calls", k, "function",
                                                                   "arguments")))
                content = json.dumps(functions, ensure_ascii=False)
                role = function_tag
                source = (column, index, "tool_calls")
        if role == observation_tag:
            if not tool_responses:
                tool_first = index
            tool_responses.append(content)
            continue
        elif tool_responses:
            if any(not isinstance(r, str) for r in tool_responses):
                raise ConversionError("a tool message's content is not a string", (column, tool_first, content_tag),
                                      "TypeError: sequence item: expected str instance", kind="content-type")
            aligned.append({"role": OBSERVATION, "content": _OPENAI_TOOL_JOIN.join(tool_responses)})
            sources.append((column, tool_first, content_tag))
            tool_responses = []
        if not declared(role, mapping):
            raise ConversionError(f"role {role!r} is not one of the declared tags", (column, index, role_tag),
                                  f"KeyError: {role!r}", kind="role-unknown")
        aligned.append({"role": mapping[role], "content": content})
        sources.append(source)
    if tool_responses:  # never flushed after the loop: LLaMA-Factory silently drops them
        problems.append(Problem("trailing-tools", (column, tool_first), len(tool_responses)))
    accept = ((USER, OBSERVATION), (ASSISTANT, FUNCTION))
    broken = False
    for turn_idx, message in enumerate(aligned):
        if message["role"] not in accept[turn_idx % 2]:
            src = sources[turn_idx]
            problems.append(Problem("role", (src[0], src[1], role_tag) if src else (column,),
                                    (message["role"], turn_idx % 2)))
            broken = True
            break
    ranking = bool(entry.ranking)
    if (not ranking and len(aligned) % 2 != 0) or (ranking and len(aligned) % 2 == 0):
        problems.append(Problem("count", (column,), len(aligned)))
        broken = True
    prompt, response, sources = _split(record, entry, aligned, sources, broken, problems, mapping,
                                       (ASSISTANT, FUNCTION))
    tools_col = cols.get("tools")
    tools = record.get(tools_col, "") if tools_col else ""
    if isinstance(tools, (dict, list)):
        tools = json.dumps(tools, ensure_ascii=False)
    original = system
    if system and not isinstance(system, str):
        raise ConversionError(f"the system prompt is a {type(system).__name__}, not a string", (),
                              "TypeError: argument of type is not iterable", kind="system-type")
    if not system:
        if not tools:
            system = _OPENAI_SHORT_SYSTEM
    elif not tools:
        if "detailed thinking on" not in system and "detailed thinking off" not in system:
            system += "\n" + _OPENAI_SHORT_SYSTEM
    else:
        system += "\n"
    if system != original and not (original is None and system is None):
        problems.append(Problem("system-rewritten", (), system))
    images, videos, audios = _medias(record, entry, media_dir, problems)
    return Aligned(prompt, response, system, tools, images, videos, audios, broken, problems, sources)


_CONVERTERS = {"alpaca": _align_alpaca, "sharegpt": _align_sharegpt, "openai": _align_openai}


def align(record, entry, media_dir: Optional[str] = None) -> Aligned:
    """One record in LLaMA-Factory's aligned form. Raises ConversionError where LLaMA-Factory raises."""
    converter = _CONVERTERS.get(entry.formatting)
    if converter is None:
        raise ConversionError(f"formatting {entry.formatting!r} is not alpaca, sharegpt or openai", (),
                              f"ValueError: Dataset converter {entry.formatting} not found.", kind="formatting")
    if not isinstance(record, dict):
        raise ConversionError(f"the record is a {type(record).__name__}, not an object", (),
                              "TypeError", kind="record-type")
    return converter(record, entry, media_dir if media_dir is not None else entry.dataset_dir)


# -- stage F: what each processor keeps (spec §2.6) -----------------------------------------------------------

def kept_by_stage(aligned: Aligned, stage: Optional[str]) -> bool:
    """Whether the stage's processor keeps this sample ("Dropped invalid example" otherwise).

    pt keeps everything it can index (``_prompt[0]``); a blanked sample crashes it, so it counts as not kept.
    """
    odd_prompt = len(aligned.prompt) % 2 == 1
    if stage == "sft" or stage is None:
        return odd_prompt and len(aligned.response) == 1
    if stage in ("rm", "kto"):
        return odd_prompt and len(aligned.response) >= 2
    if stage == "ppo":
        return odd_prompt
    if stage == "pt":
        return len(aligned.prompt) > 0
    raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")


def stage_messages(aligned: Aligned, stage: Optional[str]) -> List[Tuple[list, list]]:
    """The message lists the stage's processor passes to the multimodal count check (spec §3.3), each with the
    JSON paths of its messages: sft ``prompt + response``; rm ``prompt + [chosen]`` and ``prompt + [rejected]``;
    kto ``prompt + [the non-empty response]``; ppo ``prompt + response`` when there is one response, else
    ``prompt + [empty assistant]``; pt the first prompt message only (no count check: pretrain is text-only)."""
    p, r, s = aligned.prompt, aligned.response, aligned.sources
    ps, rs = s[:len(p)], s[len(p):]
    if stage in ("rm",):
        return [(p + r[0:1], ps + rs[0:1]), (p + r[1:2], ps + rs[1:2])]
    if stage == "kto":
        if r and r[0].get("content"):
            return [(p + r[0:1], ps + rs[0:1])]
        return [(p + r[1:2], ps + rs[1:2])]
    if stage == "ppo":
        if len(r) == 1:
            return [(p + r, ps + rs)]
        return [(p + [{"role": ASSISTANT, "content": ""}], ps + [None])]
    if stage == "pt":
        return [(p[:1], ps[:1])]
    return [(p + r, ps + rs)]
