"""Token counts estimated from a text's make-up, per tokenizer family, with a measured error band.

The families' pre-tokenizers cut text into pieces (``pieces``: words with their leading space, single digits for
Qwen and SentencePiece models, up to three for Llama 3, DeepSeek and GLM-4, punctuation runs, newlines,
indentation), and byte-level BPE never merges across them, so a text's tokens are the sum of its pieces'. The
calibration (`scripts/token_calibration/calibrate.py`) measured with each family's real tokenizer what a piece of
each kind costs (Latin words by length, Han runs by length; kana, Hangul, other scripts, emoji per character) and
one factor per make-up; ``estimate`` adds the pieces up in aggregate, in C (bytes.translate and counts for the
ASCII classes, one regular expression pass for the rest), and the calibration measured its error band per make-up
("number-heavy Chinese", "English", "code", ...) on held-out documents. ``upper_bound`` is a cheaper number never
under the estimate, for the fast paths' cutoff gate. Standard library only.
"""

from __future__ import annotations

import re
from typing import Dict, Iterator, List, Optional, Tuple

from lfgate.tokens import calibrated
from lfgate.tokens.families import FAMILIES, Family

NUMBER_HEAVY_CHINESE, CHINESE, ENGLISH, CODE, MIXED = ("number-heavy Chinese", "Chinese", "English", "code",
                                                       "mixed-script text")
KINDS = (NUMBER_HEAVY_CHINESE, CHINESE, ENGLISH, CODE, MIXED)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_LATIN = "A-Za-z\u00c0-\u024f"
_EMOJI = "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]"
# counted per character, each at its own rate: kana, Hangul, accented Latin, emoji, symbols, then the letters of
# other scripts
PER_CHAR = (("kana", f"[{_KANA}]"), ("hangul", f"[{_HANGUL}]"), ("latin_ext", "[\u00c0-\u024f]"), ("emoji", _EMOJI),
            ("symbol", "[\u2000-\u2bff\u3000-\u303f\uff00-\uffef\u00a1-\u00bf\u00d7\u00f7]"))
SCRIPTS = (("cyrillic", "[\u0400-\u052f]"), ("greek", "[\u0370-\u03ff]"), ("arabic", "[\u0590-\u06ff\u0750-\u077f]"),
           ("indic", "[\u0900-\u0dff]"), ("southeast_asian", "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"))
_PATTERNS: Dict[Tuple[str, int], re.Pattern[str]] = {}
SCALED = 200  # characters: a text this long is scaled by its make-up's factor; shorter ones by "short"
_SPECIALS: Dict[str, re.Pattern[str]] = {}

# piece classes: (group name, class)
_SPACE = "space"


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


_DIGIT_RUN = re.compile(r"\d+")
_NEWLINE_RUN = re.compile(r"[ \t]*[\r\n]+")
_INDENT = re.compile(r"(?<![\r\n])[ \t]{2,}|(?<=[\r\n])[ \t]+")
_CODE_MARK = re.compile(r"[{}()\[\];=<>_#]|^ {2,}", re.M)


class Scripts:
    """The expressions over Unicode ranges, compiled at the first text that is not ASCII (``scripts()``): ~20 ms
    that a check counting nothing, or only ASCII, does not pay at import."""

    def __init__(self) -> None:
        self.han_run = re.compile(f"[{_HAN}]+")
        self.emoji = re.compile(_EMOJI)
        self.per_char = tuple((name, re.compile(source)) for name, source in PER_CHAR + SCRIPTS)
        self.other_scripts = self.per_char[len(PER_CHAR):]
        # every character a per-character class counts: one pass finds them all, and each class is then counted in
        # what it found (a short string), not in the whole text
        self.counted_one_by_one = re.compile("|".join(source for _, source in PER_CHAR + SCRIPTS))
        self.cjk_char = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
        self.other_letter = re.compile(f"[^\\W\\d_A-Za-z{_HAN}{_KANA}{_HANGUL}]")
        self.script_run = re.compile(f"([{_HAN}]+)|([{_KANA}]+)|([{_HANGUL}]+)|([{_LATIN}]+)|(.+?)(?=[{_HAN}"
                                     f"{_KANA}{_HANGUL}{_LATIN}]|$)", re.S)


_SCRIPTS: List[Scripts] = []


def scripts() -> Scripts:
    if not _SCRIPTS:
        _SCRIPTS.append(Scripts())
    return _SCRIPTS[0]

# The pieces of ASCII classes (words, digits, punctuation runs, a punctuation mark leading a word, code marks) are
# counted in the text's UTF-8 bytes mapped by bytes.translate, which runs in C at a byte per nanosecond or so, where
# a regular expression scan costs 20-60 ns a character: a non-ASCII character is bytes of 0x80 and above, which
# none of these classes holds, so it separates runs as any other character does.
_PUNCT_BYTES = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_LETTER_BYTES = bytes(range(65, 91)) + bytes(range(97, 123))
_DIGIT_BYTES = b"0123456789"


def _mapped(*classes: Tuple[bytes, bytes]) -> bytes:
    """A bytes.translate table: each (bytes, mark) class's bytes as its mark (or as themselves for b""), the rest
    spaces (so bytes.split gives the class's runs)."""
    table = bytearray(b" " * 256)
    for kept, mark in classes:
        for b in kept:
            table[b] = mark[0] if mark else b
    return bytes(table)


_WORDS_ONLY, _PUNCT_ONLY = _mapped((_LETTER_BYTES, b"")), _mapped((_PUNCT_BYTES, b""))
_DIGITS_ONLY = _mapped((_DIGIT_BYTES, b""))
_LETTER_OR_PUNCT = _mapped((_LETTER_BYTES, b"a"), (_PUNCT_BYTES, b"."))
_CODE_MARKS = b"{}()[];=<>_#"


def _by_length(lengths, values: List[float]) -> float:
    """Runs counted by their length in a table (past its end, per unit of length)."""
    if not lengths:
        return 0.0
    from collections import Counter

    return sum(n * _table(values, length) for length, n in Counter(lengths).items())


def estimate(text: str, family: Family) -> float:
    """The estimated tokens of one text (a float: a sample's texts are added before rounding). The pieces of
    ``pieces`` counted in aggregate, in C: words by length, Han runs by length, digit groups, punctuation runs,
    newlines, indentation, other scripts per character."""
    if not text:
        return 0.0
    table = tables(family)
    total = 0.0
    if "<" in text or "[" in text:
        found = _special(family).findall(text)
        if found:
            total += len(found)
            text = _special(family).sub(" ", text)
    ascii_text = text.isascii()
    data = text.encode("ascii") if ascii_text else text.encode("utf-8", "surrogatepass")
    group = calibrated.DIGIT_GROUP.get(family.name, 1)
    if not ascii_text:  # \d holds the other scripts' decimal digits too
        digits = sum(map(len, _DIGIT_RUN.findall(text))) if group == 1 else \
            sum((len(r) + group - 1) // group for r in _DIGIT_RUN.findall(text))
    elif group == 1:
        digits = len(data) - len(data.translate(None, _DIGIT_BYTES))
    else:
        digits = sum((len(r) + group - 1) // group for r in data.translate(_DIGITS_ONLY).split())
    if digits:
        total += digits
    total += _by_length(list(map(len, data.translate(_WORDS_ONLY).split())), table["word"])
    total += _by_length(list(map(len, data.translate(_PUNCT_ONLY).split())), table["punct"])
    classes = data.translate(_LETTER_OR_PUNCT)
    leads = classes.count(b".a") - classes.count(b"..a")  # one mark, not after another, before a letter
    if leads:
        total += leads * (table["lead"] - _table(table["punct"], 1))
    if b"\n" in data or b"\r" in data:
        total += _by_length(list(map(len, _NEWLINE_RUN.findall(text))), table["space"])
    if b"\t" in data or b"  " in data:  # an indent that counts has two characters of [ \t]
        total += _by_length([len(run) - 1 for run in _INDENT.findall(text) if len(run) > 1], table["space"])
    counted = dict.fromkeys(("han", "kana", "hangul", "emoji"), 0)  # what the make-up below needs
    if not ascii_text:
        rx = scripts()
        han = list(map(len, rx.han_run.findall(text)))
        total += _by_length(han, table["han"])
        counted["han"] = sum(han)
        rare = "".join(rx.counted_one_by_one.findall(text))
        if rare:
            for name, pattern in rx.per_char:
                n = len(pattern.findall(rare))
                if n:
                    total += table[name] * n
                    counted[name] = n
    scales = table["scale"]
    if len(text) < SCALED:
        return total * scales["short"]
    if ascii_text:
        kind = _make_up(len(text), 0, 0, 0, lambda: _code_marks(text, data))
    else:
        other = len(scripts().other_letter.findall(text)) + counted["emoji"]
        kind = _make_up(len(text), counted["han"] + counted["kana"] + counted["hangul"],
                        digits if group == 1 else sum(map(len, _DIGIT_RUN.findall(text))), other,
                        lambda: _code_marks(text, data))
    return total * scales[kind]


def upper_bound(text: str, family: Family) -> Optional[float]:
    """A number at least ``estimate(text, family)``, from one bytes.translate and two counts in C (no runs split
    out, no table looked up per run), for the fast paths' gate on cutoff_len; None where only the estimate itself
    can say (text that is not ASCII, holds a tab, two blanks in a row (indentation) or a special token). Each word
    costs at most the line a + b * length over the word table (``_envelopes``), and there are at most as many words
    as other characters, plus one; a digit costs at most one token, a punctuation run at most its length times the
    punctuation table's largest rate, and with no two blanks in a row a newline run is its newlines and at most one
    blank before them: each of those characters at most ``marked`` tokens."""
    if not text.isascii():
        return None
    classes = text.encode("ascii").translate(_CLASSES)
    if b"ss" in classes:
        return None
    size, letters, marked = len(classes), classes.count(b"a"), classes.count(b".")
    if b"X" in classes:  # a tab, "<" or "[": a tab indents; the others may open a special token
        if "\t" in text or _special(family).search(text):
            return None
        marked += classes.count(b"X")
    word_a, word_b, mark_rate, scale = _envelopes(family)
    total = word_a * (size - letters + 1) + word_b * letters + mark_rate * marked
    return total * (scale if size >= SCALED else tables(family)["scale"]["short"])


# letters, the characters `marked` counts (digits, punctuation, newlines), blanks, and what upper_bound looks at
_CLASSES = _mapped((_LETTER_BYTES, b"a"), (_PUNCT_BYTES + _DIGIT_BYTES + b"\r\n", b"."), (b" ", b"s"), (b"\t<[", b"X"))
_ENVELOPES: Dict[str, Tuple[float, ...]] = {}


def _envelopes(family: Family) -> Tuple[float, ...]:
    """(a, b) of the line over the word table; what a digit, punctuation or newline character costs at most (one
    token a digit, the punctuation table's largest rate per character plus the lead adjustment when it adds, two
    characters of a newline run at the space table's largest rate); the larger of the ASCII make-ups' scales."""
    if family.name not in _ENVELOPES:
        table = tables(family)
        words = table["word"]
        slope = words[-1] / len(words)  # past its end the table goes on at this rate: no smaller slope bounds it
        punct_rate = max(v / n for n, v in enumerate(table["punct"], 1)) + \
            max(0.0, table["lead"] - _table(table["punct"], 1))
        space_rate = max(v / n for n, v in enumerate(table["space"], 1))
        _ENVELOPES[family.name] = (max(v - slope * n for n, v in enumerate(words, 1)), slope,
                                   max(1.0, punct_rate, 2 * space_rate),
                                   max(table["scale"][ENGLISH], table["scale"][CODE]))
    return _ENVELOPES[family.name]


def _special(family: Family) -> re.Pattern[str]:
    specials = _SPECIALS.get(family.name)
    if specials is None:
        specials = _SPECIALS[family.name] = re.compile(family.specials)
    return specials


def _code_marks(text: str, data: bytes) -> int:
    """The code marks of ``_CODE_MARK`` (brackets, `;`, `=`, `_`, `#`; a line that starts with two spaces)."""
    lines = (1 if text.startswith("  ") else 0) + data.count(b"\n  ")
    return len(data) - len(data.translate(None, _CODE_MARKS)) + lines


def tables(family: Family) -> dict:
    return calibrated.TABLES.get(family.name) or calibrated.TABLES["other"]


def make_up(text: str) -> str:
    """Which make-up a sample's text is, for its band."""
    if text.isascii():
        return _make_up(len(text), 0, 0, 0, lambda: len(_CODE_MARK.findall(text)))
    rx = scripts()
    return _make_up(len(text), len(rx.cjk_char.findall(text)), sum(map(len, _DIGIT_RUN.findall(text))),
                    len(rx.other_letter.findall(text)) + len(rx.emoji.findall(text)),
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
