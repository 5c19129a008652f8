"""A local model folder that would load but train on nothing, or not load at all (LK034, LK035).

Read from the folder's file names and JSON only: no transformers, no torch (the lint path stays light).
`train` and `train --dry-run` run the same checks through the Checker, and `train` also loads the tokenizer.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterator, Optional

from lfgate.registry import ERROR, WARNING, rule

MAX_LAYERS = 1024  # more than any released model (DeepSeek-V3: 61 layers, Llama-3.1-405B: 126)
# Files a tokenizer's vocabulary lives in: tokenizers' tokenizer.json, sentencepiece models (Llama, Gemma, ChatGLM's
# ice_text.model), BPE vocab.json + merges.txt (GPT-2, Qwen2 slow), WordPiece vocab.txt, tiktoken files (Qwen-1),
# and a remote tokenizer's own tokenization_*.py.
VOCAB_FILE = re.compile(r"^(tokenizer\.json|.*\.model|vocab.*|merges\.txt|.*\.tiktoken|.*spiece.*|.*\.vocab|"
                        r"tokenization_.*\.py)$", re.IGNORECASE)
TOKENIZER_JSON_LIMIT = 256 * 1024 * 1024  # read tokenizer.json only below this size

_CFG = ("model_name_or_path: models/tiny\nstage: sft\ndo_train: true\nfinetuning_type: lora\ndataset: demo\n"
        "template: qwen\noutput_dir: out\n")
_PROJECT = {"train.yaml": _CFG, "data/dataset_info.json": '{"demo": {"file_name": "demo.json"}}\n',
            "data/demo.json": '[{"instruction": "Say hi.", "input": "", "output": "Hi!"}]\n'}
_CONFIG = '{"model_type": "qwen2", "num_hidden_layers": 2}\n'
_TOKENIZER = ('{"version": "1.0", "model": {"type": "BPE", "vocab": {"H": 0, "i": 1, "Hi": 2}, "merges": []}, '
              '"added_tokens": []}\n')

TOKENIZER_MISSING = rule(
    "LK035", "model-tokenizer-missing", ERROR, "The local model folder has no usable tokenizer",
    why="transformers 5 loads a folder with config.json but no tokenizer files as an empty tokenizer: every sample "
        "encodes to a few special tokens (a dry run shows 'mean 3.0 tokens', preview only `<|im_end|>`), and the "
        "run trains on nothing without an error.",
    fix="Copy the tokenizer files (tokenizer.json, tokenizer_config.json, or the vocabulary files) from the base "
        "model into the folder, or point model_name_or_path at the folder that has them.",
    bad={**_PROJECT, "models/tiny/config.json": _CONFIG},
    good={**_PROJECT, "models/tiny/config.json": _CONFIG, "models/tiny/tokenizer.json": _TOKENIZER},
    target="train.yaml",
)
CONFIG_INCONSISTENT = rule(
    "LK034", "model-config-inconsistent", ERROR, "The local model's config.json contradicts itself",
    why="transformers validates config.json when it loads it: `layer_types` must list `num_hidden_layers` entries, "
        "and a count that is not a positive number fails. A config claiming more layers than any real model "
        "(a typo, or a hostile file) would make the model skeleton itself huge; lfgate's plan refuses to build it "
        "(a warning).",
    fix="Make num_hidden_layers and layer_types agree (copy config.json from the base model again).",
    bad={**_PROJECT, "models/tiny/tokenizer.json": _TOKENIZER, "models/tiny/config.json":
         '{"model_type": "qwen2", "num_hidden_layers": 4, "layer_types": ["full_attention", "full_attention"]}\n'},
    good={**_PROJECT, "models/tiny/tokenizer.json": _TOKENIZER, "models/tiny/config.json":
          '{"model_type": "qwen2", "num_hidden_layers": 2, "layer_types": ["full_attention", "full_attention"]}\n'},
    target="train.yaml",
)


def model_config_problem(info: dict) -> Optional[tuple]:
    """(severity, message) for a config.json the model cannot be built from as it stands, else None."""
    nested = info.get("text_config")
    text = nested if isinstance(nested, dict) else info
    layers = text.get("num_hidden_layers")
    if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 1):
        return ERROR, f"num_hidden_layers is {layers!r}, not a positive whole number"
    if isinstance(layers, int) and layers > MAX_LAYERS:
        return WARNING, f"num_hidden_layers is {layers:,}, more than any real model (over {MAX_LAYERS})"
    types = text.get("layer_types")
    if isinstance(types, list) and isinstance(layers, int) and len(types) != layers:
        return ERROR, (f"num_hidden_layers is {layers} but layer_types lists {len(types)} layers: transformers "
                       "rejects the config when it loads it")
    return None


def tokenizer_problem(folder: str) -> Optional[str]:
    """Why the folder's tokenizer would load empty, or None. Lenient: any vocabulary-like file counts."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    vocab = [n for n in names if VOCAB_FILE.match(n) and os.path.isfile(os.path.join(folder, n))]
    if not vocab:
        return ("it has config.json but no tokenizer files (no tokenizer.json, tokenizer.model, vocab.* or "
                "merges.txt): transformers loads an empty tokenizer and every sample encodes to nothing")
    if vocab == ["tokenizer.json"]:
        return _tokenizer_json_problem(os.path.join(folder, "tokenizer.json"))
    return None


def _tokenizer_json_problem(path: str) -> Optional[str]:
    try:
        if os.path.getsize(path) > TOKENIZER_JSON_LIMIT:
            return None
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, RecursionError):
        return "its tokenizer.json cannot be read"
    except ValueError as err:
        return f"its tokenizer.json is not valid JSON ({err})"
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if vocab is not None and not vocab:
        return "its tokenizer.json has an empty vocabulary"
    return None


def check_model_folder(config, folder: Optional[str], info: Optional[dict]) -> Iterator:
    """LK034 and LK035 for a local model folder (folder: the resolved path; info: its config.json)."""
    if folder is None or info is None:
        return
    at = config.where("model_name_or_path")
    problem = model_config_problem(info)
    if problem:
        severity, message = problem
        yield CONFIG_INCONSISTENT.diag(f"`model_name_or_path: {config.values.get('model_name_or_path')}`: "
                                       f"{folder}/config.json: {message}", severity=severity, **at)
    why = tokenizer_problem(folder)
    if why:
        yield TOKENIZER_MISSING.diag(f"`model_name_or_path: {config.values.get('model_name_or_path')}`: {why}. Copy "
                                     "the tokenizer files from the base model into the folder", **at)
