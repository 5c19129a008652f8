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
from typing import Any, Dict, Optional, TypeVar, overload

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
    # NAME_TOKEN=value, `hub_token: value`: a name that ends in the secret word (`tokenizer: ...`, `max_tokens: 8`
    # are no secrets), then a whole value, not the start of a word (`Couldn't` is no value)
    r"|(?P<name>\b[A-Za-z0-9_]*(?:TOKEN|SECRET|SECRET_KEY|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|CREDENTIALS?)`?"
    r"\s*[=:]\s*`?)[^\s,;'\"`<>()\[\]{}]{4,}(?=$|[\s,;\"`)\]}]|'(?!\w))",
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


# the same, newlines kept: for data shown as text of several lines (preview) or as JSON
_UNSAFE_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def escape(text: str, keep_lines: bool = False) -> str:
    unsafe = _UNSAFE_IN_LINES if keep_lines else _UNSAFE
    return unsafe.sub(_escape_char, text) if unsafe.search(text) else text


def _replace_secret(match) -> str:
    if match.group("scheme"):
        return match.group("scheme") + "***@"
    for prefix in ("bearer", "name"):
        if match.group(prefix):
            return match.group(prefix) + "***"
    return "***"


def environment_secrets():
    """(pattern, values) of the values of secret-named environment variables and of the secret-named keys of the
    configs read (remember_secrets), None when there are none."""
    values = sorted({value for name, value in os.environ.items() if _SECRET_NAME.search(name)
                     and len(value.strip()) >= MIN_SECRET_LENGTH} | _CONFIG_SECRETS, key=len, reverse=True)
    return (re.compile("|".join(re.escape(v) for v in values)), tuple(values)) if values else None


# A config key names a secret by its last word: hub_token, om_hub_token, hf_hub_tokn (a typo is still the secret),
# swanlab_api_key, swanlab_lark_secret; never calculate_per_token_loss or max_new_tokens.
_SECRET_LAST_WORD = {"token", "tokn", "tkn", "toekn", "tokne", "tocken", "secret", "password", "passwd", "pwd",
                     "apikey", "credential", "credentials"}
_SECRET_LAST_WORDS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key")}
_CONFIG_SECRETS: set = set()


def secret_key(key: object) -> bool:
    """Whether a config key holds a secret, judged by its name alone."""
    if not isinstance(key, str):
        return False
    words = [w for w in re.split(r"[_.\-\s]+", key.lower()) if w]
    return bool(words) and (words[-1] in _SECRET_LAST_WORD or tuple(words[-2:]) in _SECRET_LAST_WORDS)


def remember_secrets(values: Any) -> None:
    """Redact, everywhere from now on, the values of a config's secret-named keys, whatever their type: a numeric
    `om_hub_token` or a list is as secret as a string. Values too short to be a secret are left alone."""
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if not secret_key(key):
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
                continue
            text = str(item).strip()
            if len(text) >= MIN_SECRET_LENGTH:
                _CONFIG_SECRETS.add(text)


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
def safe(text: str, secrets: Any = ..., keep_lines: bool = ...) -> str: ...
@overload
def safe(text: _T, secrets: Any = ..., keep_lines: bool = ...) -> _T: ...
def safe(text: Any, secrets: Any = _UNSET, keep_lines: bool = False) -> Any:
    """Escaped and redacted text (newlines kept with keep_lines); anything that is not a str is returned as it is."""
    if not isinstance(text, str):
        return text
    return escape(redact(text, secrets), keep_lines)


def safe_tree(value: Any, secrets: Any = _UNSET) -> Any:
    """Every string in a JSON-like value (keys included) through safe, newlines kept (JSON escapes them): for
    commands that print data as JSON."""
    if secrets is _UNSET:
        secrets = environment_secrets()
    if isinstance(value, str):
        return safe(value, secrets, keep_lines=True)
    if isinstance(value, dict):
        return {safe_tree(k, secrets): safe_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_tree(v, secrets) for v in value]
    return value


def clean(d, secrets=_UNSET, paths=None):
    """The diagnostic with its message, file and dataset safe to print (the same object when they already are);
    with paths (machine_paths), this machine's folders in its message and file written relative."""
    if secrets is _UNSET:
        secrets = environment_secrets()
    changes = {}
    text = paths(d.message) if paths is not None else d.message
    message = safe(text, secrets)
    if message != d.message:
        changes["message"] = message
    for name in ("file", "dataset"):  # few distinct values among a million findings
        value = getattr(d, name)
        if name == "file" and paths is not None and value is not None and os.path.isabs(value):
            value = paths(value)
        cleaned = _safe_name(value, secrets) if value is not None else None
        if cleaned != getattr(d, name):
            changes[name] = cleaned
    return replace(d, **changes) if changes else d


class MachinePaths:
    """Rewrites this machine's folders in a text: the project root and the working directory (and their real
    paths) become relative to the working directory, the home folder `~`. A report names no CI runner's layout
    (`/home/runner/work/repo/repo/...`) in JSON, SARIF or a message; `--absolute-paths` keeps them in text."""

    def __init__(self, root: Optional[str] = None):
        cwd = os.getcwd()
        replacements: Dict[str, str] = {}
        for base in (root or cwd, cwd):
            for form in (os.path.abspath(base), os.path.realpath(base)):
                if form.rstrip(os.sep):
                    relative = os.path.relpath(os.path.abspath(base), cwd)
                    replacements.setdefault(form.rstrip(os.sep), relative)
        home = os.path.expanduser("~")
        if home.rstrip(os.sep) and home.rstrip(os.sep) not in replacements and os.path.isabs(home):
            replacements[home.rstrip(os.sep)] = "~"
        self._replacements = replacements
        bases = sorted(replacements, key=len, reverse=True)
        sep = re.escape(os.sep)
        # at the start of a path (not inside a longer one), then a separator, or the end of the path
        self._pattern = re.compile(rf"(?<![\w.~{sep}-])({'|'.join(map(re.escape, bases))})(?:({sep})|(?![\w.-]))") \
            if bases else None
        self._cache: Dict[str, str] = {}

    def _replace(self, match) -> str:
        relative = self._replacements[match.group(1)]
        if match.group(2):
            return "" if relative == "." else relative + os.sep
        return relative

    def __call__(self, text: str) -> str:
        if self._pattern is None or os.sep not in text:
            return text
        done = self._cache.get(text)
        if done is None:
            done = self._pattern.sub(self._replace, text)
            if len(self._cache) < 100_000:
                self._cache[text] = done
        return done


def machine_paths(report) -> Optional[MachinePaths]:
    """The path rewriter for a report, None with --absolute-paths."""
    return None if getattr(report, "absolute_paths", False) else MachinePaths(getattr(report, "root", None))


@lru_cache(maxsize=4096)
def _safe_name(value: str, secrets) -> str:
    return safe(value, secrets)


def clean_report(report):
    """A shallow copy of the report whose findings are all safe to print."""
    from lfgate.diagnostics import Report

    secrets = environment_secrets()
    paths = machine_paths(report)
    return Report(diagnostics=[clean(d, secrets, paths) for d in report.diagnostics], files=report.files,
                  samples=report.samples, fail_on=report.fail_on, root=report.root,
                  absolute_paths=report.absolute_paths)
