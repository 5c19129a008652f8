"""Multimodal rules: placeholder counts against the media lists, and media paths (spec §3)."""

from __future__ import annotations

import re

from lfgate.registry import ALWAYS, ERROR, WARNING, rule
from lfgate.validator.samples.base import example

_ENTRY = {"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
_PNG = "(image bytes: only the path is checked)\n"  # text, so `lfgate rules --format json` can print it


def holding_placeholders(checker):
    """The records whose texts hold a media placeholder go the full way (they are counted, DS501/DS503); all of
    them when a placeholder is configured empty (every text holds it)."""
    placeholders = [p for _, _, p in checker.placeholders]
    if not all(placeholders):
        return ALWAYS
    search = re.compile("|".join(re.escape(p) for p in placeholders)).search
    leads = {p[0] for p in placeholders}
    lead = leads.pop() if len(leads) == 1 else ""  # "<": a text without it skips the regex (found by memchr)

    def holds_placeholder(joined: str, n: int, extra_chars: int) -> bool:
        return lead in joined and search(joined) is not None

    return holds_placeholder


def _rec(text, images):
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "A cat."}],
            "images": images}


COUNT = rule(
    "DS501", "placeholder-count-mismatch", ERROR,
    "The number of <image>/<video>/<audio> placeholders differs from the number of media",
    why="Every multimodal template counts the placeholders in the messages the stage passes (not the system "
        "prompt or tools) and raises \"The number of images does not match the number of <image> tokens\" "
        "at tokenization; text-only templates reject any media list instead.",
    fix="Put exactly one placeholder per media item in the messages (for ranking: in the prompt, or in both "
        "chosen and rejected).",
    bad=example([_rec("<image><image>What is this?", ["cat.png"])], _ENTRY, extra={"data/cat.png": _PNG}),
    good=example([_rec("<image>What is this?", ["cat.png"])], _ENTRY, extra={"data/cat.png": _PNG}),
    refuses_joined=holding_placeholders,
)

MEDIA_MISSING = rule(
    "DS502", "media-file-missing", ERROR,
    "A media file does not exist where LLaMA-Factory looks",
    why="LLaMA-Factory joins each path to `media_dir` (default: `dataset_dir`) and, when that file does not exist, "
        "only logs a warning and opens the path relative to where training is launched. Most multimodal "
        "templates then crash at tokenization; some (Gemma-3n, Mllama, PaliGemma) only during training.",
    fix="Fix the path (relative to `media_dir`, or absolute), or add the file.",
    bad=example([_rec("<image>What is this?", ["missing.png"])], _ENTRY),
    good=example([_rec("<image>What is this?", ["cat.png"])], _ENTRY, extra={"data/cat.png": _PNG}),
)

PLACEHOLDER_NO_MEDIA = rule(
    "DS503", "placeholder-without-media", WARNING,
    "Messages hold media placeholders but the sample has no media",
    why="With a multimodal template this raises a count mismatch at tokenization (`The number of images does not "
        "match the number of <image> tokens`): an error when a config that loads the data names such a template. "
        "With a text-only template the placeholder is trained as literal text: a warning.",
    fix="Add the media column to `columns` (e.g. `\"images\": \"images\"`) and the files, or remove the "
        "placeholders.",
    bad=example([{"instruction": "<image>What is this?", "input": "", "output": "A cat."}]),
    good=example([{"instruction": "What is this?", "input": "", "output": "A cat."}]),
    refuses_joined=holding_placeholders,
)


def is_multimodal_template(name) -> bool:
    """A template whose mm_plugin counts placeholders against the media (every plugin but BasePlugin does, in
    data/mm_plugin.py `_validate_messages`, 0.9.5)."""
    if not isinstance(name, str):
        return False
    from lfgate.validator import train_schema

    plugin = train_schema.templates()["templates"].get(name, {}).get("plugin")
    return plugin not in (None, "BasePlugin")
