"""Dataset-level findings, made once the whole dataset has been seen (SampleChecker.finish)."""

from __future__ import annotations

import difflib
from typing import List

from lfgate.diagnostics import Severity
from lfgate.validator.samples import alpaca, common, kto, multimodal, openai, sharegpt
from lfgate.validator.samples.base import Finding

_TAG_KEYS = ("user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
# LLaMA-Factory stops before it could judge the samples: every record crashes, a column or message key is missing,
# no response column.
_STOPS = frozenset(r.code for r in (common.RECORD_CRASH, common.COLUMN_MISSING, sharegpt.KEY_MISSING,
                                      alpaca.OUTPUT_MISSING))


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def dataset_findings(c) -> List[Finding]:
    """The dataset's findings in a fixed order, root causes first. After a finding that stops LLaMA-Factory
    before it judges the samples (``_STOPS``), the findings that judge them are left out."""
    if c.total == 0:
        return []
    out = _conversion_stops(c) + _unread_fields(c)
    if c.chat and c.messages_seen:
        out += _message_keys(c)
        if not _stopped(out):
            out += _tag_findings(c)
    out += _converter_rewrites(c) + _placeholders_without_media(c) + _stage_mismatches(c) + _truncation(c)
    if not _stopped(out):
        out += _nothing_kept(c)
    return out


def _stopped(found: List[Finding]) -> bool:
    return any(f.rule.code in _STOPS for f in found)


def _conversion_stops(c) -> List[Finding]:
    """Every record fails to convert, or a column no record has: LLaMA-Factory raises while converting."""
    out = []
    for kind, n in c.dataset_crash.counts.items():
        sample, path, detail = c.dataset_crash.first[kind]
        out.append(Finding(common.RECORD_CRASH, f"every record fails to convert ({_plural(n, 'record')}): {detail}. "
                           "Fix the entry's `columns`/`tags`/`formatting` in dataset_info.json.", sample, path))
    entry = c.entry
    for column in sorted(c.pending_columns):
        key = c.columns[column]
        if key == "system" and entry.formatting == "sharegpt" and not c.leading_system_missing:
            continue  # every sample starts with a system message, so LLaMA-Factory never reads the field
        named = "default" if not isinstance(entry.raw.get("columns"), dict) else "set"
        typo = difflib.get_close_matches(column, [f for f in c.some_fields if f not in c.columns], n=1, cutoff=0.8)
        meant = f" The records have {typo[0]!r}: did you mean {column!r}?" if typo else ""
        out.append(Finding(common.COLUMN_MISSING, f"no record has the field {column!r} (`columns.{key}`, {named}): "
                           f"LLaMA-Factory raises KeyError: {column!r} while converting.{meant} Rename the field or "
                           f"point `columns.{key}` at the field the data uses.", None, ()))
    return out


def _unread_fields(c) -> List[Finding]:
    out = []
    for field, n in sorted(c.unread.counts.items(), key=lambda kv: str(kv[0])):
        if field is None:
            continue
        sample, path, _ = c.unread.first[field]
        key = c.unread_fields[field]
        out.append(Finding(common.UNREAD_FIELD, f"{_plural(n, 'sample')} have the field {field!r} (first: sample "
                           f"{sample}), but `columns` omits {key!r}, so LLaMA-Factory never reads it (a partial "
                           f"`columns` resets every key it omits). Add \"{key}\": \"{field}\" to `columns`.",
                           sample, path))
    return out


def _message_keys(c) -> List[Finding]:
    """The role and content keys of chat messages (`tags.role_tag`, `tags.content_tag`)."""
    out = []
    entry = c.entry
    tags = entry.tags
    for key, seen in (("role_tag", c.role_key_seen), ("content_tag", c.content_key_seen)):
        if not seen and tags.get(key) is not None:
            out.append(Finding(sharegpt.KEY_MISSING, f"no message has the key {tags.get(key)!r} "
                               f"(`tags.{key}`): LLaMA-Factory raises KeyError: {tags.get(key)!r}. Set "
                               f"`tags.{key}` to the key the messages use.", None, ()))
    if c.role_key_seen and c.missing_role and entry.formatting == "sharegpt" and None not in c.mapping:
        sample, path, _ = c.missing_role.first[None]
        n = c.missing_role.counts[None]
        out.append(Finding(sharegpt.ROLE_UNKNOWN, f"{_plural(n, 'message')} have no {tags.get('role_tag')!r} "
                           f"key, or a null one (first: sample {sample}): LLaMA-Factory reads it as null and drops "
                           "the sample. Give every message a role.", sample, path))
    return out


def _converter_rewrites(c) -> List[Finding]:
    """What the openai converter changes: the system prompt, tool-call arguments encoded twice."""
    out = []
    if c.rewritten:
        sample, path, detail = c.rewritten.earliest()
        out.append(Finding(openai.SYSTEM_REWRITTEN, f"the openai converter rewrites the system prompt of "
                           f"{_plural(c.rewritten.total(), 'sample')} (e.g. to {detail!r}, sample {sample}). Say "
                           "\"detailed thinking on/off\" yourself, or use formatting sharegpt with OpenAI-style tags.",
                           sample, path))
    if c.double_encoded:
        sample, path, _ = c.double_encoded.earliest()
        out.append(Finding(openai.DOUBLE_ENCODED, f"{_plural(c.double_encoded.total(), 'tool call')} give "
                           f"`arguments` as a JSON string (first: sample {sample}): it is encoded a second time in "
                           "the training text. Store arguments as JSON objects.", sample, path))
    return out


def _placeholders_without_media(c) -> List[Finding]:
    """An error with a multimodal template (a count mismatch), else a warning (trained as text)."""
    if not c.no_media:
        return []
    sample, path, placeholder = c.no_media.earliest()
    template = getattr(c.usage, "template", None) if c.usage is not None else None
    if multimodal.is_multimodal_template(template):
        kind = {"<video>": "videos", "<audio>": "audios"}.get(placeholder, "images")
        return [Finding(multimodal.PLACEHOLDER_NO_MEDIA, f"{_plural(c.no_media.total(), 'sample')} hold "
                        f"media placeholders such as {placeholder} but no media (first: sample {sample}): "
                        f"with the multimodal template `{template}` LLaMA-Factory raises `The number of "
                        f"{kind} does not match the number of {placeholder} tokens`. Add the media column "
                        "and files, or remove the placeholders.", sample, path, Severity.ERROR)]
    return [Finding(multimodal.PLACEHOLDER_NO_MEDIA, f"{_plural(c.no_media.total(), 'sample')} hold "
                    f"media placeholders such as {placeholder} but no media (first: sample {sample}): "
                    "multimodal templates raise a count mismatch, text-only ones train the placeholder "
                    "as text. Add the media column and files, or remove the placeholders.", sample, path)]


def _stage_mismatches(c) -> List[Finding]:
    """Data the stage reads in part or not at all: pt's first text only, no response, KTO data elsewhere, KTO's
    own failures."""
    out = []
    entry, stage = c.entry, c.stage
    if stage == "pt" and c.pt_extra:
        sample, _, _ = c.pt_extra.earliest()
        out.append(Finding(common.PRETRAIN_FIRST_ONLY, f"pretraining uses only the first user message or prompt "
                           f"text; {_plural(c.pt_extra.total(), 'sample')} have more (responses, history or later "
                           f"turns) that are ignored (first: sample {sample}). Use one text column for pt.",
                           sample, ()))
    if c.no_response_column:
        out.append(Finding(alpaca.OUTPUT_MISSING, f"`columns.response` is not set, so none of the "
                           f"{_plural(c.no_response_column.total(), 'sample')} has a response: the {stage} stage "
                           "drops them all. Map `columns.response` to the output field, or train this text with "
                           "`stage: pt`.", None, ()))
    if c.kto_bool and stage == "sft":
        sample, path, _ = c.kto_bool.earliest()
        out.append(Finding(kto.KTO_IN_OTHER_STAGE, f"{_plural(c.kto_bool.total(), 'sample')} carry a boolean "
                           f"`{entry.columns.get('kto_tag')}` (KTO data): the sft stage drops every one of them. "
                           "Train with `stage: kto`, or remove `columns.kto_tag`.", sample, path))
    if stage == "kto":
        out.extend(_kto_findings(c))
    return out


def _kto_findings(c) -> List[Finding]:
    out = []
    if c.kto_crash is not None:
        out.append(Finding(kto.BATCH_CRASH, f"sample {c.kto_crash} has no usable response and a valid sample "
                           "reads it as its KL pair (the next one in its batch of 1000, cyclically): the KTO "
                           "processor raises IndexError and preprocessing stops. Fix or remove the broken "
                           "samples.", c.kto_crash, ()))
    if c.kept and (c.kto_types[0] == 0 or c.kto_types[1] == 0):
        which = "desirable" if c.kto_types[1] else "undesirable"
        out.append(Finding(kto.ONE_TYPE, f"all {_plural(c.kept, 'kept sample')} are {which}: LLaMA-Factory logs "
                           "\"Your dataset only has one preference type\". Add samples of the other kind.",
                           None, ()))
    return out


def _truncation(c) -> List[Finding]:
    """What cutoff_len cuts (lfgate/tokens/report.py: the one wording, shared with LK050 and stats)."""
    from lfgate.tokens import report
    from lfgate.tokens.counters import describe

    if c.truncation is None:
        return []
    facts = c.truncation_facts()
    level = report.severity_name(facts)
    if level is None:
        return []
    how = describe(c.count_plan.spec, report.band_kind(facts))
    note = _default_note(c)
    if note and facts.get("low", facts["exceeding"]) < max(facts.get("counted") or 0, 1):
        level = "info"  # no config sets cutoff_len: LLaMA-Factory's default is a guess; a warning when all are cut
    text = report.message(facts, how, cutoff_note=note)
    return [Finding(common.TRUNCATION, text + ".", None, (), Severity.WARNING if level == "warning" else None)]


def _nothing_kept(c) -> List[Finding]:
    converted = c.total - c.crashed
    if c.crashed or c.kept or c.stage == "pt" or converted <= 0:
        return []
    which = f"none of the {converted} samples is" if converted > 1 else "the only sample is not"
    return [Finding(common.NO_VALID_SAMPLES, f"{which} kept by the {c.stage} stage: LLaMA-Factory raises "
                    "\"Cannot find valid samples\". Fix the sample errors reported for this dataset, or use "
                    "the dataset with the stage it is made for.", None, ())]


def _tag_findings(c) -> List[Finding]:
    out = []
    entry = c.entry
    tags = entry.tags
    explicit = isinstance(entry.raw.get("tags"), dict)
    if c.roles:
        for key in _TAG_KEYS:
            value = tags.get(key)
            if value is None or value in c.roles.counts:
                continue
            # optional roles: unused is normal, unless the user declared them for sharegpt data (the openai
            # converter makes function turns from tool_calls, and a system prompt is optional everywhere)
            if key == "system_tag" or (key in ("observation_tag", "function_tag")
                                       and (not explicit or entry.formatting != "sharegpt")):
                continue
            out.append(Finding(sharegpt.TAG_UNUSED, f"`tags.{key}` is {value!r}, but no message has that role. "
                               "Check the data's role values against `tags`.", None, ()))
    undeclared = {k: n for k, n in c.undeclared.counts.items() if k is not None}
    if sum(undeclared.values()) > 1:  # one message is already fully described by its own finding
        sample, path, _ = min((c.undeclared.first[k] for k in undeclared), key=lambda f: f[0])
        listed = ", ".join(f"{k!r} ({_plural(n, 'message')})" for k, n in
                           sorted(undeclared.items(), key=lambda kv: -kv[1])[:8])
        declared = ", ".join(f"{tags.get(k)!r} ({k})" for k in _TAG_KEYS if tags.get(k) is not None)
        out.append(Finding(sharegpt.ROLES_UNDECLARED, f"role values {listed} are declared by no tag (declared: "
                           f"{declared or 'none'}; first: sample {sample}). Declare them in `tags` or rewrite the "
                           "roles.", sample, path))
    return out


def _default_note(c) -> str:
    return " (the default)" if getattr(c.usage, "stage", None) is None else ""
