"""The calibration sample: sample-sized documents of each make-up, deterministic for a seed.

Sources, all in this repository: scripts/seed_like_dataset.py (number-heavy Chinese reports and YAML graphs),
prose_zh.txt (Chinese prose) and mixed.txt (other scripts, emoji, formulas, Chinese with English terms), both
written for this purpose; lfgate's own Markdown (English) and Python (code); generated English tables of figures.
"""

from __future__ import annotations

import glob
import os
import random
import sys
from typing import List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import seed_like_dataset  # noqa: E402

PER_KIND = 160  # documents per make-up


def _lines(name: str) -> List[str]:
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _chunks(paths: List[str], rng: random.Random, count: int) -> List[str]:
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    out = []
    for _ in range(count):
        text = rng.choice(texts)
        size = rng.randint(300, 6000)
        start = rng.randint(0, max(0, len(text) - size))
        out.append(text[start:start + size])
    return out


def _joined(pool: List[str], rng: random.Random, low: int, high: int, sep: str = "\n") -> str:
    target, parts = rng.randint(low, high), []
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(pool))
    return sep.join(parts)


def _figures(rng: random.Random) -> str:
    rows = ["| region | quarter | revenue (USD m) | growth | margin |", "| --- | --- | ---: | ---: | ---: |"]
    for _ in range(rng.randint(5, 60)):
        rows.append(f"| {rng.choice(['EMEA', 'APAC', 'North America', 'LATAM'])} | Q{rng.randint(1, 4)} "
                    f"{rng.randint(2015, 2024)} | {rng.uniform(1, 9999):,.1f} | {rng.uniform(-20, 40):+.2f}% | "
                    f"{rng.uniform(0, 60):.1f}% |")
    return "Quarterly results, unaudited.\n" + "\n".join(rows)


def documents(seed: int = 1) -> List[Tuple[str, str]]:
    rng = random.Random(seed)
    docs: List[Tuple[str, str]] = []
    for i, record in enumerate(seed_like_dataset.records(PER_KIND, seed=seed + 1000)):
        part = i % 3
        text = [record["instruction"] + "\n" + record["input"], record["input"], record["output"]][part]
        docs.append(("number-heavy Chinese", text))
    zh = _lines("prose_zh.txt")
    docs += [("Chinese", _joined(zh, rng, 200, 4000)) for _ in range(PER_KIND)]
    english = sorted(glob.glob(os.path.join(ROOT, "*.md")) + glob.glob(os.path.join(ROOT, "docs", "*.md")))
    docs += [("English", t) for t in _chunks(english, rng, PER_KIND)]
    code = sorted(glob.glob(os.path.join(ROOT, "lfgate", "**", "*.py"), recursive=True))
    docs += [("code", t) for t in _chunks(code, rng, PER_KIND)]
    mixed = _lines("mixed.txt")
    docs += [("mixed", _joined(mixed + zh[:5], rng, 200, 3000)) for _ in range(PER_KIND)]
    docs += [("figures", _figures(rng)) for _ in range(PER_KIND // 2)]
    return docs
