"""Multimodal rules: placeholder counts against the media lists, and media paths (spec §3)."""

from __future__ import annotations

import os
import re
from typing import Any, List, Optional

from lfgate.diagnostics import Severity
from lfgate.registry import ALWAYS, ERROR, WARNING, Refusal, rule
from lfgate.validator.samples.base import (
    CONVERTED,
    KEPT,
    Counted,
    Finding,
    State,
    Tally,
    check,
    dataset_check,
    example,
    plural,
)

_ENTRY = {"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
_PNG = "(image bytes: only the path is checked)\n"  # text, so `lfgate rules --format json` can print it


def holding_placeholders(checker) -> Refusal:
    """The records whose texts hold a media placeholder go the full way (they are counted, DS501/DS503); all of
    them when a placeholder is configured empty (every text holds it)."""
    placeholders = [p for _, _, p in checker.placeholders]
    if not all(placeholders):
        return ALWAYS
    leads = {p[0] for p in placeholders}
    return Refusal(pattern=re.compile("|".join(re.escape(p) for p in placeholders)),
                   lead=leads.pop() if len(leads) == 1 else "")  # "<": a text without it skips the regex


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
    refuses=holding_placeholders,
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
    refuses=holding_placeholders,
)


def is_multimodal_template(name) -> bool:
    """A template whose mm_plugin counts placeholders against the media (every plugin but BasePlugin does, in
    data/mm_plugin.py `_validate_messages`, 0.9.5)."""
    if not isinstance(name, str):
        return False
    from lfgate.validator import train_schema

    plugin = train_schema.templates()["templates"].get(name, {}).get("plugin")
    return plugin not in (None, "BasePlugin")


# -- the checks ------------------------------------------------------------------------------------------------------
MEDIA_KINDS = (("images", "image"), ("videos", "video"), ("audios", "audio"))  # (column key, placeholder kind)


@check(CONVERTED, MEDIA_MISSING)
def media_missing(c, s) -> None:
    if not s.kept:
        return
    for problem in s.aligned.problems:
        if problem.kind != "media-missing":
            continue
        media, severity = problem.detail, None
        if media.startswith(("http://", "https://")):
            text = f"{media!r} is a URL: LLaMA-Factory opens media as local paths only. Download it"
        elif os.path.isfile(media):
            severity = Severity.WARNING
            text = (f"{media!r} is not under media_dir {c.media_dir!r}; it exists relative to the current directory, "
                    "so it loads only when training is launched from here. Make it relative to media_dir")
        elif os.path.isabs(media) and absent_folder(media) is not None:
            continue  # under a media root of another machine: AbsentMediaRoots says it once per folder
        else:
            text = f"{media!r} does not exist under media_dir {c.media_dir!r}. Fix the path or add the file"
        s.out.append(Finding(MEDIA_MISSING, text + ".", s.index, problem.path, severity))


def absent_folder(path: str) -> Optional[str]:
    """The shallowest folder above path that does not exist (a media root of another machine), else None when
    only the file itself is missing."""
    parents = []
    folder = os.path.dirname(path)
    while folder and folder not in parents:
        parents.append(folder)
        folder = os.path.dirname(folder)
    for folder in reversed(parents):
        if not os.path.isdir(folder):
            return folder
    return None


@dataset_check(CONVERTED, MEDIA_MISSING)
class AbsentMediaRoots(Counted):
    """Absolute media paths under a folder that does not exist here (the media root of another machine): one DS502
    per folder with the count, not one per sample (one cause, once)."""

    def add(self, c, s) -> None:
        if not s.kept:
            return
        for problem in s.aligned.problems:
            media = problem.detail
            if problem.kind == "media-missing" and isinstance(media, str) and os.path.isabs(media) \
                    and not media.startswith(("http://", "https://")):
                folder = absent_folder(media)
                if folder is not None:
                    self.tally.add(folder, s.index, problem.path, media)

    def findings(self, c) -> List[Finding]:
        out = []
        for folder, n in self.tally.counts.items():
            sample, path, media = self.tally.first[folder]
            verb = "lies" if n == 1 else "lie"
            out.append(Finding(MEDIA_MISSING, f"{plural(n, 'media path')} {verb} under {folder!r}, which does not "
                               f"exist here (the first: {media!r}, sample {sample}): LLaMA-Factory finds none of "
                               "them and the run crashes. Make the folder available where training runs, or fix the "
                               "paths or media_dir.", sample, path))
        return out


@dataset_check(KEPT, COUNT, PLACEHOLDER_NO_MEDIA, when=lambda c: c.stage != "pt")
class MediaCounts(State):
    """Placeholders against media per kept sample (DS501 at the sample), placeholders without any media (DS503 once),
    and the counts the link rules read (DatasetFacts). Images are measured once per worker (media.ImageChecker)."""

    def __init__(self, c):
        self.media = {col: 0 for col, _ in MEDIA_KINDS}
        self.placeholders = {kind: 0 for _, kind in MEDIA_KINDS}
        self.samples_with_media = 0
        self.no_media = Tally()
        self.images: Any = None  # media.ImageChecker, made on the first image or video (a per-worker cache)

    def add(self, c, s) -> None:
        aligned, lists = s.aligned, s.lists
        # one string per message list ("\0" keeps placeholders from forming across messages), counted in C
        texts = ["\0".join([m["content"] for m in messages if isinstance(m["content"], str)])
                 for messages, _ in lists]
        if not (aligned.images or aligned.videos or aligned.audios):
            # the common text-only sample: with no media and no placeholder there is nothing to count or report
            joined = texts[0] if len(texts) == 1 else "\0".join(texts)
            if not any(placeholder in joined for _, _, placeholder in c.placeholders):
                return
        has_media = False
        for (column_key, kind, placeholder), media in zip(c.placeholders, (aligned.images, aligned.videos,
                                                                          aligned.audios)):
            n_media = len(media) if media else 0
            if n_media:
                has_media = True
                self.media[column_key] += n_media
            counts = [text.count(placeholder) for text in texts]
            if counts:
                self.placeholders[kind] += counts[0]
            for n, (messages, paths) in zip(counts, lists):
                if n == n_media:
                    continue
                if n_media == 0:
                    where = next((p for m, p in zip(messages, paths)
                                  if isinstance(m["content"], str) and placeholder in m["content"]), None)
                    self.no_media.add(kind, s.index, where or (), placeholder)
                else:
                    column = c.entry.columns.get(column_key)
                    where = " (prompt + one answer)" if c.stage in ("rm", "kto") else ""
                    s.out.append(Finding(COUNT, f"the messages{where} hold {n} {placeholder} placeholder"
                                         f"{'s' if n != 1 else ''} but `{column}` lists {n_media} {column_key}: "
                                         f"multimodal templates raise \"The number of {column_key} does not match "
                                         f"the number of {placeholder} tokens\". Use one placeholder per item.",
                                         s.index, (column,)))
                break
        if has_media:
            self.samples_with_media += 1
        if aligned.images or aligned.videos:
            self._check_images(c, s)

    def _check_images(self, c, s) -> None:
        from lfgate.validator import media

        if self.images is None:
            self.images = media.ImageChecker(c.usage)
        index = s.index
        columns = (c.entry.columns.get("images") or "images", c.entry.columns.get("videos") or "videos")
        s.out.extend(self.images.check_sample(index, s.aligned.images, s.aligned.videos, columns,
                                              lambda rule_, message, path: Finding(rule_, message + ".", index, path)))

    def counted(self) -> int:  # samples with placeholders and no media (DS503)
        return self.no_media.total()

    def merge(self, other) -> None:
        for mine, theirs in ((self.media, other.media), (self.placeholders, other.placeholders)):
            for key in mine:
                mine[key] += theirs[key]
        self.samples_with_media += other.samples_with_media
        self.no_media.merge(other.no_media)

    def findings(self, c) -> List[Finding]:
        """An error with a multimodal template (a count mismatch), else a warning (trained as text)."""
        if not self.no_media:
            return []
        sample, path, placeholder = self.no_media.earliest()
        n = plural(self.no_media.total(), "sample")
        template = getattr(c.usage, "template", None)
        if is_multimodal_template(template):
            kind = {"<video>": "videos", "<audio>": "audios"}.get(placeholder, "images")
            return [Finding(PLACEHOLDER_NO_MEDIA, f"{n} hold media placeholders such as {placeholder} but no media "
                            f"(first: sample {sample}): with the multimodal template `{template}` LLaMA-Factory "
                            f"raises `The number of {kind} does not match the number of {placeholder} tokens`. Add "
                            "the media column and files, or remove the placeholders.", sample, path, Severity.ERROR)]
        return [Finding(PLACEHOLDER_NO_MEDIA, f"{n} hold media placeholders such as {placeholder} but no media "
                        f"(first: sample {sample}): multimodal templates raise a count mismatch, text-only ones train "
                        "the placeholder as text. Add the media column and files, or remove the placeholders.",
                        sample, path)]
