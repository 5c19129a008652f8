"""sharegpt rules (also OpenAI-style data declared as sharegpt with `tags`): roles against the declared tags, the
system message, the user/assistant alternation and the message count (spec §2.3)."""

from __future__ import annotations

import json
from typing import List, Optional

from lfgate.registry import ERROR, INFO, SUMMARY, WARNING, rule
from lfgate.validator.converter import declared
from lfgate.validator.samples.base import (
    CONVERTED,
    OPENAI_TAGS,
    SHAREGPT,
    DropReason,
    Finding,
    State,
    Tally,
    converter_raises,
    dataset_check,
    example,
    plural,
    turns,
)

_CHAT = turns(("human", "Hi"), ("gpt", "Hello!"))
_OPENAI = {**SHAREGPT, "columns": {"messages": "messages"}, "tags": OPENAI_TAGS}

ROLE_UNKNOWN = rule(
    "DS201", "role-not-declared", ERROR,
    "A message role matches none of the declared tags",
    why="LLaMA-Factory accepts only the role values its tags declare (default: human, gpt, observation, "
        "function_call, system). Any other value, or a message without a role key, blanks the sample (\"Invalid "
        "role tag\"), and the stage drops it.",
    fix="Use the declared role values, or declare the data's values in the entry's `tags` (all of them: a "
        "partial `tags` object resets the others to null).",
    bad=example([{"conversations": turns(("user", "Hi"), ("assistant", "Hello!"))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

ROLE_ORDER = rule(
    "DS202", "role-out-of-order", ERROR,
    "Messages do not alternate user/observation and assistant/function",
    why="After a leading system message, the 1st, 3rd, ... message must be user or observation and the 2nd, "
        "4th, ... assistant or function. The first one out of place blanks the sample and the stage drops it.",
    fix="Reorder or merge the messages so that user and assistant turns alternate, starting with the user.",
    bad=example([{"conversations": turns(("human", "Hi"), ("human", "Are you there?"), ("gpt", "Yes."))}],
                SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

SYSTEM_POSITION = rule(
    "DS203", "system-message-misplaced", ERROR,
    "A system message is not the first message, or `system_tag` is not declared",
    why="Only a first message whose role equals `tags.system_tag` becomes the system prompt. A system message "
        "anywhere else, or any system message when `system_tag` is null (a partial `tags` object such as "
        "LLaMA-Factory's own OpenAI example sets it to null), is an invalid role: the sample is dropped.",
    fix="Keep a single system message first and declare `\"system_tag\": \"system\"` in `tags`, or move the "
        "text into a system column.",
    bad=example([{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Hello!"}]}],
                {**SHAREGPT, "columns": {"messages": "messages"}, "tags": {
                    "role_tag": "role", "content_tag": "content", "user_tag": "user",
                    "assistant_tag": "assistant"}}),
    good=example([{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello!"}]}], _OPENAI),
)

MESSAGE_COUNT = rule(
    "DS204", "message-count", ERROR,
    "The number of messages is odd (even for a ranking prompt)",
    why="A conversation must end with the answer to train: an even number of messages after the system "
        "message (a ranking prompt: an odd number, the answers being `chosen`/`rejected`). Otherwise LLaMA-Factory "
        "logs \"Invalid message count\" and the sample is dropped.",
    fix="End the conversation with an assistant (or function) message, or drop the unanswered last message.",
    bad=example([{"conversations": turns(("human", "Hi"), ("gpt", "Hello!"), ("human", "Bye"))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

MESSAGES_TYPE = rule(
    "DS205", "messages-not-a-list", ERROR,
    "The messages field is not a list of message objects",
    why="The sharegpt and openai converters index the messages field as a list of objects; null, a string or "
        "a list of strings raises a TypeError during conversion.",
    fix="Make the field a list of objects with the role and content keys the `tags` name.",
    bad=example([{"conversations": "Hi"}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

TAG_UNUSED = rule(
    "DS206", "tag-value-unused", INFO,
    "A role value declared in `tags` never occurs in the data",
    why="A declared role that no message uses usually means the data spells it differently (\"user\" vs "
        "\"human\"), and the messages with that spelling are being dropped.",
    fix="Check the data's role values against `tags`; fix whichever is wrong.",
    bad=example([{"conversations": turns(("user", "Hi"), ("gpt", "Hello!"))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

ROLES_UNDECLARED = rule(
    "DS207", "roles-undeclared", WARNING,
    "Role values in the data are declared by no tag (summary)",
    why="Each such message blanks its sample. Seen over the whole file (reported when more than one message has "
        "such a role), the fix is usually one `tags` entry.",
    fix="Declare the data's role values in `tags` (e.g. `\"user_tag\": \"user\"`), or rewrite the data's roles.",
    bad=example([{"conversations": turns(("user", "Hi"), ("gpt", "Hello!"))},
                 {"conversations": turns(("user", "Bye"), ("gpt", "Bye!"))}], SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
)

KEY_MISSING = rule(
    "DS208", "message-key-missing-everywhere", ERROR,
    "No message has the role or content key that `tags` name",
    why="LLaMA-Factory reads `message[role_tag]` and `message[content_tag]`; a key that no message has raises a "
        "KeyError during conversion.",
    fix="Set `tags.role_tag`/`tags.content_tag` to the keys the messages use (e.g. \"role\"/\"content\").",
    bad=example([{"conversations": [{"role": "human", "content": "Hi"}, {"role": "gpt", "content": "Hello!"}]}],
                SHAREGPT),
    good=example([{"conversations": _CHAT}], SHAREGPT),
    covers=("DS003", "DS206", "DS207"), scope=SUMMARY,  # LLaMA-Factory stops before it judges the samples
)


# -- the checks ------------------------------------------------------------------------------------------------------
converter_raises("messages-type", MESSAGES_TYPE, "Make it a list of message objects.")
TAG_KEYS = ("user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
_LIKELY_TAG = {**dict.fromkeys(("user", "human", "question"), "user_tag"),
               **dict.fromkeys(("assistant", "gpt", "bot", "model", "chatbot", "answer"), "assistant_tag"),
               **dict.fromkeys(("tool", "observation", "ipython", "tool_response"), "observation_tag"),
               **dict.fromkeys(("function", "function_call", "tool_call", "tool_calls"), "function_tag"),
               **dict.fromkeys(("system", "developer"), "system_tag")}


@dataset_check(CONVERTED, KEY_MISSING, ROLE_UNKNOWN, TAG_UNUSED, ROLES_UNDECLARED, when=lambda c: c.chat)
class RoleCensus(State):
    """The role values the messages hold, and whether any message had the role and content keys at all."""

    def __init__(self, c):
        tags = c.entry.tags
        self.role_tag, self.content_tag = tags.get("role_tag"), tags.get("content_tag")
        self.column = c.entry.columns.get("messages")
        self.answers = tuple(col for col in (c.entry.columns.get(k) for k in ("chosen", "rejected")) if col) \
            if c.entry.ranking else ()
        self.messages_seen = self.role_key_seen = self.content_key_seen = False
        self.roles, self.undeclared, self.missing_role = Tally(), Tally(), Tally()

    def add(self, c, s) -> None:
        value, column, role_tag = s.value, self.column, self.role_tag
        messages = value.get(column)
        if not isinstance(messages, list):
            return
        mapping, roles, undeclared = c.mapping, self.roles, self.undeclared
        role_counts = roles.counts
        index = s.index
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            self.messages_seen = True
            if not self.content_key_seen and self.content_tag in message:
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
        for col in self.answers:
            answer = value.get(col)
            if isinstance(answer, dict) and isinstance(answer.get(role_tag), str):
                roles.add(answer[role_tag], index, (col, role_tag))

    def settled(self, *roles: str) -> bool:
        """Whether a record of well-formed messages with these roles would change nothing here but the counts
        (``credit``): what the fast paths wait for before they vouch for records."""
        return self.messages_seen and self.role_key_seen and self.content_key_seen and \
            all(role in self.roles.counts for role in roles)

    def counted(self) -> int:  # messages without a role: their samples are dropped (DS201's summary)
        return self.missing_role.total()

    def credit(self, role: str, n: int) -> None:
        self.roles.counts[role] += n

    def merge(self, other) -> None:
        for name in ("messages_seen", "role_key_seen", "content_key_seen"):
            setattr(self, name, getattr(self, name) or getattr(other, name))
        for mine, theirs in ((self.roles, other.roles), (self.undeclared, other.undeclared),
                             (self.missing_role, other.missing_role)):
            mine.merge(theirs)

    def findings(self, c) -> List[Finding]:
        if not self.messages_seen:
            return []
        out = []
        entry = c.entry
        tags = entry.tags
        for key, seen in (("role_tag", self.role_key_seen), ("content_tag", self.content_key_seen)):
            if not seen and tags.get(key) is not None:
                out.append(Finding(KEY_MISSING, f"no message has the key {tags.get(key)!r} (`tags.{key}`): "
                                   f"LLaMA-Factory raises KeyError: {tags.get(key)!r}. Set `tags.{key}` to the key "
                                   "the messages use.", None, ()))
        if self.role_key_seen and self.missing_role and entry.formatting == "sharegpt" and None not in c.mapping:
            sample, path, _ = self.missing_role.first[None]
            n = self.missing_role.counts[None]
            out.append(Finding(ROLE_UNKNOWN, f"{plural(n, 'message')} have no {tags.get('role_tag')!r} key, or a null "
                               f"one (first: sample {sample}): LLaMA-Factory reads it as null and drops the sample. "
                               "Give every message a role.", sample, path))
        return out + self._tag_findings(c)

    def _tag_findings(self, c) -> List[Finding]:
        out = []
        entry = c.entry
        tags = entry.tags
        explicit = isinstance(entry.raw.get("tags"), dict)
        if self.roles:
            for key in TAG_KEYS:
                value = tags.get(key)
                if value is None or value in self.roles.counts:
                    continue
                # optional roles: unused is normal, unless the user declared them for sharegpt data (the openai
                # converter makes function turns from tool_calls, and a system prompt is optional everywhere)
                if key == "system_tag" or (key in ("observation_tag", "function_tag")
                                           and (not explicit or entry.formatting != "sharegpt")):
                    continue
                out.append(Finding(TAG_UNUSED, f"`tags.{key}` is {value!r}, but no message has that role. Check the "
                                   "data's role values against `tags`.", None, ()))
        undeclared = {k: n for k, n in self.undeclared.counts.items() if k is not None}
        if sum(undeclared.values()) > 1:  # one message is already fully described by its own finding
            sample, path, _ = min((self.undeclared.first[k] for k in undeclared), key=lambda f: f[0])
            listed = ", ".join(f"{k!r} ({plural(n, 'message')})" for k, n in
                               sorted(undeclared.items(), key=lambda kv: -kv[1])[:8])
            names = ", ".join(f"{tags.get(k)!r} ({k})" for k in TAG_KEYS if tags.get(k) is not None)
            out.append(Finding(ROLES_UNDECLARED, f"role values {listed} are declared by no tag (declared: "
                               f"{names or 'none'}; first: sample {sample}). Declare them in `tags` or rewrite the "
                               "roles.", sample, path))
        return out


def converter_reason(c, s) -> Optional[DropReason]:
    """Why the converter blanked the sample: the first role out of place, or a message count the stage refuses."""
    for problem in s.aligned.problems:
        if problem.kind == "role":
            return _role_reason(c, problem)
        if problem.kind == "count":
            reason = _count_reason(c, problem)
            if reason is not None:
                return reason
    return None


def _role_reason(c, problem) -> DropReason:
    role, parity = problem.detail
    tags = c.entry.tags
    path = problem.path
    openai_mode = c.entry.formatting == "openai"
    system_tag = tags.get("system_tag")
    expected = "user or observation" if parity == 0 else "assistant or function"
    position = path[1] + 1 if len(path) > 1 and isinstance(path[1], int) else None
    where = f"message {position}" if position else "a message"
    if role is None and not openai_mode:  # summarised (RoleCensus): a drop, or a KeyError if no message has it
        return DropReason(path, f"{where} has no {tags.get('role_tag')!r} key")
    if (role == system_tag and system_tag) or (openai_mode and role == "system"):
        return DropReason(path, f"{where} is a system message, but only the first message may be one",
                          SYSTEM_POSITION, "Move it first, or into the system column.")
    if not openai_mode and not declared(role, c.mapping):
        if role == "system" and not system_tag:
            return DropReason(path, f"{where} has role 'system' but `tags.system_tag` is null (a partial `tags` "
                              "object resets it)", SYSTEM_POSITION, "Add \"system_tag\": \"system\" to `tags`.")
        key = _LIKELY_TAG.get(str(role).lower())
        hint = f" (e.g. \"{key}\": {json.dumps(role)})" if key else ""
        return DropReason(path, f"{where} has role {role!r}, which no tag declares ({declared_tags(c.entry)})",
                          ROLE_UNKNOWN, f"Declare it in `tags`{hint} or fix the role.")
    shown = role if openai_mode else f"{role!r} ({c.mapping.get(role)})"
    return DropReason(path, f"{where} has role {shown} where {expected} belongs (user and assistant turns must "
                      "alternate, starting with the user)", ROLE_ORDER, "Reorder or merge the messages.")


def _count_reason(c, problem) -> Optional[DropReason]:
    n = problem.detail
    if c.entry.ranking:
        return DropReason(problem.path, f"the prompt has {n} messages (not counting a leading system message), but a "
                          "ranking prompt needs an odd number (it ends with the user turn that chosen/rejected "
                          "answer)", MESSAGE_COUNT, "End the prompt with the user turn.")
    if n == 0:
        return None
    return DropReason(problem.path, f"the conversation has {n} messages (not counting a leading system message), "
                      "but needs an even number (it must end with the assistant answer to train)", MESSAGE_COUNT,
                      "End it with an assistant message, or drop the last one.")


def declared_tags(entry) -> str:
    parts = [f"{v!r} ({k})" for k in TAG_KEYS for v in [entry.tags.get(k)] if v is not None]
    return "declared: " + ", ".join(parts) if parts else "no role tag is declared"
