"""sharegpt rules (also OpenAI-style data declared as sharegpt with `tags`): roles against the declared tags, the
system message, the user/assistant alternation and the message count (spec §2.3)."""

from __future__ import annotations

from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator.samples.base import OPENAI_TAGS, SHAREGPT, example, turns

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
)
