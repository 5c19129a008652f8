"""Synthetic SFT data with a realistic length spread, shared by the runner benchmarks (no network).

Instruction-tuning sets are skewed: most samples are short, a long tail reaches the cutoff (Alpaca: median about
100 tokens, a few over 1000; ShareGPT longer still). Prompt and answer lengths here are log-normal, clipped, with
one to three turns; the answer sorts the prompt's words, a mapping the model can learn.
"""

from __future__ import annotations

import json
import math
import os
import random
from typing import List

WORDS = ("alpha beta gamma delta epsilon river cloud stone green music paper light tiger bread chair ocean one two "
         "three four five six seven eight nine ten plus minus is the of and to a").split()


def _length(rng: random.Random, median: float, longest: int) -> int:
    return max(1, min(longest, int(rng.lognormvariate(math.log(median), 0.9))))


def realistic_rows(n: int, seed: int = 0, median_words: int = 40, longest_words: int = 600) -> List[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        turns = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            question = " ".join(rng.choice(WORDS) for _ in range(_length(rng, median_words, longest_words)))
            answer = " ".join(sorted(question.split()))[: 4 * _length(rng, median_words, longest_words)]
            turns += [{"from": "human", "value": question}, {"from": "gpt", "value": answer or "ok"}]
        rows.append({"conversations": turns})
    return rows


def write_dataset(folder: str, rows: List[dict], name: str = "synth") -> str:
    """data/<name>.json and data/dataset_info.json under folder; returns the data folder."""
    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f)
    with open(os.path.join(data, "dataset_info.json"), "w", encoding="utf-8") as f:
        json.dump({name: {"file_name": f"{name}.json", "formatting": "sharegpt"}}, f)
    return data


def vocabulary_text() -> str:
    return " ".join(WORDS)


def trained_tokens(config_path: str) -> dict:
    """Tokens per epoch as the built-in runner encodes the config's data (the same as LLaMA-Factory's, see
    tests/test_runner_lf_parity.py): {"samples", "tokens" (padding excluded), "packs" (with packing)}."""
    from lfgate.runner import config as config_mod, data
    from lfgate.runner.recipe import build_template, data_options, load_tokenizer, tokenize, training_features

    config = config_mod.load(config_path)
    tokenizer = load_tokenizer(config)
    template, _ = build_template(config, tokenizer)
    train, _ = data.load_samples(config)
    features = tokenize(train, tokenizer, template, data_options(config))
    packed = training_features(config, train, features, tokenizer.pad_token_id)
    return {"samples": len(features), "tokens": sum(len(f["input_ids"]) for f in features),
            "features": len(packed)}
