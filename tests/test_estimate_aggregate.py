"""The aggregate estimate (tokens/estimate.py: bytes.translate counts, one pass for the per-character classes) gives
exactly, to the last bit, what the pieces' regular expressions give: the calibration (scripts/token_calibration)
measured its factors and bands on this definition, so a faster count must not move a single sample's estimate."""

from __future__ import annotations

import os
import re
from collections import Counter

from hypothesis import given, strategies as st

from lfgate.tokens import calibrated, estimate as e
from lfgate.tokens.families import FAMILIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The definition, one regular expression per kind of piece, as the calibration first counted them.
WORD = re.compile(r"[A-Za-z]+")
PUNCT_RUN = re.compile(r"[!-/:-@\[-`{-~]+")
LEAD = re.compile(r"(?<![!-/:-@\[-`{-~])[!-/:-@\[-`{-~](?=[A-Za-z])")
CJK = re.compile(f"[{e._HAN}{e._KANA}{e._HANGUL}]")


def by_length(runs, values):
    if not runs:
        return 0.0
    return sum(n * e._table(values, length) for length, n in Counter(map(len, runs)).items())


def reference(text: str, family) -> float:
    if not text:
        return 0.0
    table = e.tables(family)
    total = 0.0
    specials = re.compile(family.specials)
    if "<" in text or "[" in text:
        found = specials.findall(text)
        if found:
            total += len(found)
            text = specials.sub(" ", text)
    group = calibrated.DIGIT_GROUP.get(family.name, 1)
    digits = e._DIGIT_RUN.findall(text)
    if digits:
        total += sum(map(len, digits)) if group == 1 else sum((len(r) + group - 1) // group for r in digits)
    total += by_length(WORD.findall(text), table["word"])
    total += by_length(PUNCT_RUN.findall(text), table["punct"])
    leads = len(LEAD.findall(text))
    if leads:
        total += leads * (table["lead"] - e._table(table["punct"], 1))
    total += by_length(e._NEWLINE_RUN.findall(text), table["space"])
    indents = e._INDENT.findall(text)
    if indents:
        total += by_length([run[1:] for run in indents if len(run) > 1], table["space"])
    if not text.isascii():
        total += by_length(e.scripts().han_run.findall(text), table["han"])
        for name, pattern in e.scripts().per_char:
            n = len(pattern.findall(text))
            if n:
                total += table[name] * n
    ascii_text = text.isascii()
    kind = e._make_up(len(text), 0 if ascii_text else len(CJK.findall(text)),
                      0 if ascii_text else sum(map(len, e._DIGIT_RUN.findall(text))),
                      0 if ascii_text else len(e.scripts().other_letter.findall(text)) + len(e.scripts().emoji.findall(text)),
                      lambda: len(e._CODE_MARK.findall(text)))
    return total * table["scale"][kind if len(text) >= e.SCALED else "short"]


# Characters from every class the estimate tells apart, and the edges between them.
ALPHABET = list("ab Z09_ \t\n\r,.;:()[]{}<>#=-'\"!?/`~") + list("数据模型，。、：１２３٣é日本語カタカナ한국어привет αβγ"
                                                            "☀\ufe0f\u200d😀½²ก\u0905") + ["\ud800", "\0"]
PIECES = ["<|im_start|>", "<|im_end|>", "[INST]", "<s>", "  ", "\n    ", "\r\n", "98000万吨", "12.5%", ".append",
          "def f(x):\n    return x", "  # comment"]


@given(st.lists(st.sampled_from(ALPHABET + PIECES), max_size=300).map("".join))
def test_the_aggregate_count_is_the_definitions_to_the_bit(text):
    for family in FAMILIES.values():
        assert e.estimate(text, family) == reference(text, family), family.name


def test_the_calibration_documents_estimate_as_defined():
    texts = []
    for name in ("prose_zh.txt", "mixed.txt"):
        with open(os.path.join(ROOT, "scripts", "token_calibration", name), encoding="utf-8") as f:
            body = f.read()
        texts += [body[i:i + 1500] for i in range(0, len(body), 1500)]
    with open(os.path.join(ROOT, "lfgate", "tokens", "estimate.py"), encoding="utf-8") as f:
        code = f.read()  # code, with its indentation and marks
    texts += [code[i:i + 2000] for i in range(0, len(code), 2000)]
    # make-ups decided by a class's share: kana or Hangul at a quarter of the text, digits among Han, emoji
    texts += ["カタカナ" * 15 + "plain words " * 15, "한국어 문장 " * 12 + "plain words " * 14,
              "报告" * 40 + "98000万吨12.5%" * 5, "Привет мир 😀 " * 20, "a 😀\u200d😀 b " * 30]
    for family in FAMILIES.values():
        for text in texts:
            assert e.estimate(text, family) == reference(text, family), (family.name, text[:60])


@given(st.lists(st.sampled_from(ALPHABET + PIECES + ["word", "Tokenizer", "x" * 40, "1234567", "!!!!!!!!!!"]),
                max_size=300).map("".join))
def test_the_gates_bound_is_never_under_the_estimate(text):
    """tokens/budget.py proves a record within cutoff_len by ``upper_bound`` alone: it must hold for every text."""
    for family in FAMILIES.values():
        bound = e.upper_bound(text, family)
        if bound is not None:
            assert bound >= e.estimate(text, family), family.name


def test_the_bound_settles_plain_prose_and_leaves_the_rest_to_the_estimate():
    prose = ("The quarterly report shows that revenue grew by 12 percent, while costs fell; the board, "
             "however, asked for a clearer plan.\nNext year the team expects steady growth. ") * 6
    for family in FAMILIES.values():
        bound = e.upper_bound(prose, family)
        assert bound is not None and e.estimate(prose, family) <= bound <= 2 * e.estimate(prose, family)
        # the estimate's own cases: indentation, a tab, another script, a special token of the family
        for other in ("def f():\n    return 1", "a\tb", "数据模型"):
            assert e.upper_bound(prose + other, family) is None
        special = prose + "<|im_start|>user"
        assert (e.upper_bound(special, family) is None) == bool(re.search(family.specials, special)), family.name
