"""Text taken from input, made safe to print in any format (issue 17).

- ``escape``: control characters (an ESC sequence in a data line can erase a CI log's error header), bidi
  overrides and lone surrogates (undecodable file names, ``"\\ud800"`` in JSON) become visible escapes, so every
  encoder and terminal gets plain, valid text.
- ``redact``: URL userinfo (``https://user:pass@host``), token-shaped values (``hf_…``, ``ghp_…``, ``sk-…``,
  ``NAME_TOKEN=…``) and the values of secret-named environment variables are replaced with ``***``: reports
  and doctor output are pasted into CI logs and bug reports.
- ``safe``: both; ``clean_report``: every text field of every finding through ``safe``.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any, TypeVar, overload

# C0 except tab, DEL, C1, bidi embeddings/overrides/isolates (they reorder what a reviewer sees), line and
# paragraph separators, and every surrogate (only lone ones survive into a str).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}

_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|COOKIE|SESSION",
                          re.IGNORECASE)
_PATTERNS = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@"  # https://user:pass@host
    r"|\b(?:hf|api)_[A-Za-z0-9]{16,}"  # Hugging Face tokens
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"  # GitHub tokens
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # OpenAI-style keys
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<name>\b[A-Za-z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|CREDENTIALS?)[A-Za-z0-9_]*"
    r"\s*[=:]\s*)[^\s,;'\"]{4,}",
    re.IGNORECASE)
_UNSET = object()
_T = TypeVar("_T")
MIN_SECRET_LENGTH = 6  # shorter environment values ("1", "true") would blank ordinary words


def _escape_char(match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: an undecodable byte of a file name or a file
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    return _UNSAFE.sub(_escape_char, text) if _UNSAFE.search(text) else text


def _replace_secret(match) -> str:
    if match.group("scheme"):
        return match.group("scheme") + "***@"
    for prefix in ("bearer", "name"):
        if match.group(prefix):
            return match.group(prefix) + "***"
    return "***"


def environment_secrets():
    """(pattern, values) of secret-named environment variables' values (None when there are none)."""
    values = sorted({value for name, value in os.environ.items() if _SECRET_NAME.search(name)
                     and len(value.strip()) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    return (re.compile("|".join(re.escape(v) for v in values)), tuple(values)) if values else None


# Substrings every match of _PATTERNS contains (lower-cased): most messages have none, and skip the regex.
_TRIGGERS = ("://", "hf_", "api_", "gh", "github_pat_", "sk-", "akia", "xox", "bearer", "token", "secret", "passw",
             "api_key", "access_key", "credential")


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    for trigger in _TRIGGERS:  # a plain loop: ~3x faster than one case-insensitive regex over a million messages
        if trigger in lowered:
            return True
    return False


def redact(text: str, secrets=_UNSET) -> str:
    if _may_hold_secret(text):
        text = _PATTERNS.sub(_replace_secret, text)
    if secrets is _UNSET:
        secrets = environment_secrets()
    if secrets is not None and any(value in text for value in secrets[1]):
        text = secrets[0].sub("***", text)
    return text


@overload
def safe(text: str, secrets: Any = ...) -> str: ...
@overload
def safe(text: _T, secrets: Any = ...) -> _T: ...
def safe(text: Any, secrets: Any = _UNSET) -> Any:
    """Escaped and redacted text; anything that is not a str is returned as it is."""
    if not isinstance(text, str):
        return text
    return escape(redact(text, secrets))


def clean(d, secrets=_UNSET):
    """The diagnostic with its message, file and dataset safe to print (the same object when they already are)."""
    if secrets is _UNSET:
        secrets = environment_secrets()
    changes = {}
    message = safe(d.message, secrets)
    if message != d.message:
        changes["message"] = message
    for name in ("file", "dataset"):  # few distinct values among a million findings
        value = getattr(d, name)
        cleaned = _safe_name(value, secrets) if value is not None else None
        if cleaned != value:
            changes[name] = cleaned
    return replace(d, **changes) if changes else d


@lru_cache(maxsize=4096)
def _safe_name(value: str, secrets) -> str:
    return safe(value, secrets)


def clean_report(report):
    """A shallow copy of the report whose findings are all safe to print."""
    from lfgate.diagnostics import Report

    secrets = environment_secrets()
    return Report(diagnostics=[clean(d, secrets) for d in report.diagnostics], files=report.files,
                  samples=report.samples, fail_on=report.fail_on)
