"""Token counts estimated from a text's make-up, per tokenizer family, with a measured error band.

The families' pre-tokenizers cut text into pieces (``pieces``: words with their leading space, single digits for
Qwen and SentencePiece models, up to three for Llama 3, DeepSeek and GLM-4, punctuation runs, newlines,
indentation), and byte-level BPE never merges across them, so a text's tokens are the sum of its pieces'. The
calibration (`scripts/token_calibration/calibrate.py`) measured with each family's real tokenizer what a piece of
each kind costs (Latin words by length, Han runs by length; kana, Hangul, other scripts, emoji per character) and
one factor per make-up; ``estimate`` adds the pieces up in aggregate, by regular expressions that run in C, and
the calibration measured its error band per make-up ("number-heavy Chinese", "English", "code", ...) on held-out
documents. Standard library only.
"""

from __future__ import annotations

import re
from typing import Dict, Iterator, List, Tuple

from lfgate.tokens import calibrated
from lfgate.tokens.families import FAMILIES, Family

NUMBER_HEAVY_CHINESE, CHINESE, ENGLISH, CODE, MIXED = ("number-heavy Chinese", "Chinese", "English", "code",
                                                       "mixed-script text")
KINDS = (NUMBER_HEAVY_CHINESE, CHINESE, ENGLISH, CODE, MIXED)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_LATIN = "A-Za-z\u00c0-\u024f"
_SCRIPT_RUN = re.compile(f"([{_HAN}]+)|([{_KANA}]+)|([{_HANGUL}]+)|([{_LATIN}]+)|(.+?)(?=[{_HAN}{_KANA}{_HANGUL}"
                         f"{_LATIN}]|$)", re.S)
# letters of other scripts, per character: each script's own rate
SCRIPTS = (("cyrillic", re.compile("[\u0400-\u052f]")), ("greek", re.compile("[\u0370-\u03ff]")),
           ("arabic", re.compile("[\u0590-\u06ff\u0750-\u077f]")), ("indic", re.compile("[\u0900-\u0dff]")),
           ("southeast_asian", re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]")))
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]")
_PATTERNS: Dict[Tuple[str, int], re.Pattern[str]] = {}
SCALED = 200  # characters: a text this long is scaled by its make-up's factor; shorter ones by "short"
_SPECIALS: Dict[str, re.Pattern[str]] = {}

# piece classes: (group name, class)
_LETTERS, _DIGITS, _PUNCT, _SPACE = "letters", "digits", "punct", "space"


def _pattern(family: Family) -> re.Pattern[str]:
    digits = calibrated.DIGIT_GROUP.get(family.name, 1)
    key = (family.specials, digits)
    if key not in _PATTERNS:
        _PATTERNS[key] = re.compile(
            f"(?P<special>{family.specials})"
            r"|(?P<letters>'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|(?:[^\r\n\w]|_)?[^\W\d_]+)"
            f"|(?P<digits>\\d{{1,{digits}}})"
            r"|(?P<punct> ?(?:[^\s\w]|_)+[\r\n]*)"
            r"|(?P<space>\s*[\r\n]+|\s+(?!\S)|\s+)")
    return _PATTERNS[key]


def pieces(text: str, family: Family) -> Iterator[Tuple[str, str]]:
    """(class, piece) in order: special, letters, digits, punct, space."""
    for match in _pattern(family).finditer(text):
        yield match.lastgroup or _SPACE, match.group()


def _table(values: List[float], n: int) -> float:
    """The table's value for length n; past its end, its last value per unit of length."""
    if n <= len(values):
        return values[n - 1]
    return values[-1] * n / len(values)


_ASCII_WORD = re.compile(r"[A-Za-z]+")
_HAN_RUN = re.compile(f"[{_HAN}]+")
_DIGIT_RUN = re.compile(r"\d+")
_ASCII_PUNCT_RUN = re.compile(r"[!-/:-@\[-`{-~]+")
_NEWLINE_RUN = re.compile(r"[ \t]*[\r\n]+")
# a lone punctuation mark before a word is one piece with it (".append", "(self", "_name"): not a run of its own
_LEAD = re.compile(r"(?<![!-/:-@\[-`{-~])[!-/:-@\[-`{-~](?=[A-Za-z])")
_INDENT = re.compile(r"(?<![\r\n])[ \t]{2,}|(?<=[\r\n])[ \t]+")
_PER_CHAR = (("kana", re.compile(f"[{_KANA}]")), ("hangul", re.compile(f"[{_HANGUL}]")),
             ("latin_ext", re.compile("[\u00c0-\u024f]")), ("emoji", _EMOJI),
             ("symbol", re.compile("[\u2000-\u2bff\u3000-\u303f\uff00-\uffef\u00a1-\u00bf\u00d7\u00f7]")))


def _by_length(runs: List[str], values: List[float]) -> float:
    """Runs counted by their length in a table (past its end, per unit of length)."""
    if not runs:
        return 0.0
    from collections import Counter

    return sum(n * _table(values, length) for length, n in Counter(map(len, runs)).items())


def estimate(text: str, family: Family) -> float:
    """The estimated tokens of one text (a float: a sample's texts are added before rounding). The pieces of
    ``pieces`` counted in aggregate, by regular expressions that run in C: words by length, Han runs by length,
    digit groups, punctuation runs, newlines, indentation, other scripts per character."""
    if not text:
        return 0.0
    table = tables(family)
    total = 0.0
    specials = _SPECIALS.get(family.name)
    if specials is None:
        specials = _SPECIALS[family.name] = re.compile(family.specials)
    if "<" in text or "[" in text:
        found = specials.findall(text)
        if found:
            total += len(found)
            text = specials.sub(" ", text)
    group = calibrated.DIGIT_GROUP.get(family.name, 1)
    digits = _DIGIT_RUN.findall(text)
    if digits:
        total += sum(map(len, digits)) if group == 1 else sum((len(r) + group - 1) // group for r in digits)
    total += _by_length(_ASCII_WORD.findall(text), table["word"])
    total += _by_length(_ASCII_PUNCT_RUN.findall(text), table["punct"])
    leads = len(_LEAD.findall(text))
    if leads:
        total += leads * (table["lead"] - _table(table["punct"], 1))
    total += _by_length(_NEWLINE_RUN.findall(text), table["space"])
    indents = _INDENT.findall(text)
    if indents:
        total += _by_length([run[1:] for run in indents if len(run) > 1], table["space"])
    if not text.isascii():
        total += _by_length(_HAN_RUN.findall(text), table["han"])
        for name, pattern in _PER_CHAR:
            n = len(pattern.findall(text))
            if n:
                total += table[name] * n
        for name, pattern in SCRIPTS:
            n = len(pattern.findall(text))
            if n:
                total += table[name] * n
    scales = table["scale"]
    return total * scales[make_up(text)] if len(text) >= SCALED else total * scales["short"]


def tables(family: Family) -> dict:
    return calibrated.TABLES.get(family.name) or calibrated.TABLES["other"]


_CJK_CHAR = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
_OTHER_LETTER = re.compile(f"[^\\W\\d_A-Za-z{_HAN}{_KANA}{_HANGUL}]")
_CODE_MARK = re.compile(r"[{}()\[\];=<>_#]|^ {2,}", re.M)


def make_up(text: str) -> str:
    """Which make-up a sample's text is, for its band."""
    ascii_text = text.isascii()
    return _make_up(len(text), 0 if ascii_text else len(_CJK_CHAR.findall(text)),
                    0 if ascii_text else sum(map(len, _DIGIT_RUN.findall(text))),
                    0 if ascii_text else len(_OTHER_LETTER.findall(text)) + len(_EMOJI.findall(text)),
                    lambda: len(_CODE_MARK.findall(text)))


def _make_up(chars: int, cjk: int, digits: int, other: int, code) -> str:
    chars = chars or 1
    if cjk >= 0.25 * chars:
        return NUMBER_HEAVY_CHINESE if digits >= 0.06 * chars else CHINESE
    if other >= 0.05 * chars:
        return MIXED
    return CODE if code() >= 0.03 * chars else ENGLISH


def band(family: Family, kind: str) -> float:
    """The measured relative error (a fraction) of a sample's estimate, for this family and make-up."""
    table = calibrated.BANDS.get(family.name) or calibrated.BANDS["other"]
    return table.get(kind, max(table.values()))


def calibrated_families() -> List[str]:
    return [FAMILIES[name].label for name in calibrated.TABLES if name in FAMILIES and name != "other"]
