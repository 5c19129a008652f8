"""A local model folder that would load but train on nothing, or not load at all (LK034, LK035).

Read from the folder's file names and JSON only: no transformers, no torch (the lint path stays light).
`train` and `train --dry-run` run the same checks through the Checker, and `train` also loads the tokenizer.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Iterator, Optional

from lfgate.hub_cache import TOKENIZER_JSON_LIMIT
from lfgate.readers import guarded
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator import lfs

MAX_LAYERS = 1024  # more than any released model (DeepSeek-V3: 61 layers, Llama-3.1-405B: 126)
# Files a tokenizer's vocabulary lives in: tokenizers' tokenizer.json, sentencepiece models (Llama, Gemma, ChatGLM's
# ice_text.model), BPE vocab.json + merges.txt (GPT-2, Qwen2 slow), WordPiece vocab.txt, tiktoken files (Qwen-1),
# and a remote tokenizer's own tokenization_*.py.
VOCAB_FILE = re.compile(r"^(tokenizer\.json|.*\.model|vocab.*|merges\.txt|.*\.tiktoken|.*spiece.*|.*\.vocab|"
                        r"tokenization_.*\.py)$", re.IGNORECASE)

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


def _safetensors(header: dict, data: bytes = b"") -> bytes:
    """A safetensors file: 8-byte little-endian header length, the JSON header, the tensor bytes."""
    text = json.dumps(header, separators=(",", ":")).encode()
    return len(text).to_bytes(8, "little") + text + data


_WEIGHTS = _safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0\0\0\0")
_LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
                "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 988097824\n")
_MODEL = {**_PROJECT, "models/tiny/config.json": _CONFIG, "models/tiny/tokenizer.json": _TOKENIZER}

WEIGHTS_UNUSABLE = rule(
    "LK080", "model-weights-unusable", ERROR, "The weights the model folder would load cannot be loaded",
    why="transformers loads `model.safetensors`, else the shards `model.safetensors.index.json` names (then the "
        "`.bin` files): a Git LFS pointer where the weights should be (a clone without `git lfs pull`) fails with "
        "safetensors' `header too large`, a file cut short (an interrupted download) with `incomplete metadata, "
        "file not fully covered`, and a shard the index names but the folder lacks (or holds only as "
        "`*.incomplete`) with `does not appear to have a file named ...`. Read from the headers only.",
    fix="Fetch the real files (`git lfs pull`, or download the model again until every shard is complete).",
    bad={**_MODEL, "models/tiny/model.safetensors": _LFS_POINTER},
    good={**_MODEL, "models/tiny/model.safetensors": _WEIGHTS},
    target="train.yaml",
)
SAFETENSORS_HEADER_LIMIT = 100_000_000  # safetensors refuses a longer header (`header too large`)


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
    """Why the folder's tokenizer would load empty or not at all, or None. Lenient: any vocabulary-like file
    counts; a tokenizer.json is judged whenever it is there (transformers prefers it to the other files)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    vocab = [n for n in names if VOCAB_FILE.match(n) and os.path.isfile(os.path.join(folder, n))]
    if not vocab:
        return ("it has config.json but no tokenizer files (no tokenizer.json, tokenizer.model, vocab.* or "
                "merges.txt): transformers loads an empty tokenizer and every sample encodes to nothing")
    if "tokenizer.json" in vocab:
        return _tokenizer_json_problem(folder)
    return None


_TOKENIZER_MODELS = ("BPE", "WordPiece", "WordLevel", "Unigram")


def _tokenizer_json_problem(folder: str) -> Optional[str]:
    """What tokenizers' Tokenizer.from_file, or transformers reading tokenizer.json itself, raises on the file."""
    path = os.path.join(folder, "tokenizer.json")
    if lfs.is_pointer(path):
        return "its tokenizer.json is a Git LFS pointer, not the tokenizer (run `git lfs pull`)"
    try:
        data = json.loads(guarded.read_bytes(path, TOKENIZER_JSON_LIMIT).decode("utf-8"))
    except guarded.TooLarge:
        return None  # not judged
    except guarded.NotRegular:
        return "its tokenizer.json is not a regular file (a pipe, device or folder)"
    except (OSError, UnicodeDecodeError, RecursionError):
        return "its tokenizer.json cannot be read"
    except ValueError as err:
        return f"its tokenizer.json is not valid JSON ({err})"
    if not isinstance(data, dict):
        return "its tokenizer.json is not a JSON object: tokenizers raises `invalid type ... expected struct Tokenizer`"
    model = data.get("model")
    if not isinstance(model, dict) or not model:
        return ("its tokenizer.json holds no tokenizer model (no `model` object): loading fails (tokenizers: `Model "
                "missing`; transformers 5: KeyError 'added_tokens' when tokenizer_config.json has no "
                "added_tokens_decoder)")
    kind = model.get("type")
    if kind is not None and kind not in _TOKENIZER_MODELS:
        return f"its tokenizer.json's model type {kind!r} is none of {', '.join(_TOKENIZER_MODELS)}: tokenizers " \
               "cannot load it"
    if "added_tokens" not in data and "added_tokens_decoder" not in (
            guarded.read_json_object(os.path.join(folder, "tokenizer_config.json")) or {}):
        return ("its tokenizer.json has no `added_tokens` list and tokenizer_config.json no added_tokens_decoder: "
                "transformers raises KeyError 'added_tokens' while loading it")
    vocab = model.get("vocab")
    if vocab is not None and not vocab:
        return "its tokenizer.json has an empty vocabulary"
    return None


# -- the weights the run loads ------------------------------------------------------------------------------------
def weights_problems(folder: str) -> Iterator[str]:
    """Why the weights transformers would load from folder cannot load, one sentence each (none when the folder
    holds no weights at all: nothing is claimed). Headers only."""
    def regular(name: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(os.path.join(folder, name)).st_mode)
        except OSError:
            return False

    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        if regular(single):  # transformers takes the single file before an index
            problem = _weights_file_problem(folder, single)
            if problem:
                yield problem
            return
        if regular(index):
            yield from _shards_problems(folder, index)
            return


def _weights_file_problem(folder: str, name: str) -> Optional[str]:
    path = os.path.join(folder, name)
    if lfs.is_pointer(path):
        return f"{name} is a Git LFS pointer, not the weights (a clone without `git lfs pull`)"
    if not name.endswith(".safetensors"):
        return None
    try:
        with guarded.open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                return f"{name} is {size} bytes, too small for a safetensors header (`header too small`)"
            length = int.from_bytes(head, "little")
            if length > SAFETENSORS_HEADER_LIMIT or length > size - 8:
                return f"{name}'s header claims {length:,} bytes in a {size:,}-byte file (`header too large`)"
            header = json.loads(f.read(length).decode("utf-8"))
    except OSError as err:
        return f"{name} cannot be read ({err.strerror or err})"
    except (ValueError, RecursionError):
        return f"{name}'s header is not valid JSON (`invalid header deserialization`)"
    if not isinstance(header, dict):
        return f"{name}'s header is not a JSON object"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"
            and isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2 and isinstance(entry["data_offsets"][1], int)]
    data = size - 8 - length
    if max(ends, default=0) != data:
        return (f"{name} holds {data:,} bytes of tensors where its header describes {max(ends, default=0):,} "
                "(cut short or padded, as an interrupted download: `incomplete metadata, file not fully covered`)")
    return None


def _shards_problems(folder: str, index: str) -> Iterator[str]:
    info = guarded.read_json_object(os.path.join(folder, index))
    weight_map = info.get("weight_map") if info else None
    if not isinstance(weight_map, dict):
        yield f"{index} has no `weight_map` object: transformers cannot tell which shard holds which weight"
        return
    shards = sorted({v for v in weight_map.values() if isinstance(v, str)})
    try:
        names = set(os.listdir(folder))
    except OSError:
        names = set()
    download = os.path.join(folder, ".cache", "huggingface", "download")  # huggingface_hub's local_dir downloads
    partial = [n for n in names if n.endswith(".incomplete")]
    if os.path.isdir(download):
        partial += [n for n in os.listdir(download) if n.endswith(".incomplete")]
    missing = [s for s in shards if not os.path.isfile(os.path.join(folder, s))]
    for shard in missing[:3]:
        cut = shard.endswith(".incomplete") or any(n.startswith(shard) for n in partial)
        how = " (only a `.incomplete` download of it)" if cut else ""
        yield (f"{index} names the shard {shard}, which the folder lacks{how}: transformers raises `does not "
               f"appear to have a file named {shard}`")
    if len(missing) > 3:
        yield f"{index} names {len(missing) - 3} more shards the folder lacks"
    for shard in shards:
        if shard not in missing:
            problem = _weights_file_problem(folder, shard)
            if problem:
                yield problem


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
    for weights in weights_problems(folder):
        yield WEIGHTS_UNUSABLE.diag(f"`model_name_or_path: {config.values.get('model_name_or_path')}`: {weights}. "
                                    "Fetch the real files before training", **at)
    why = tokenizer_problem(folder)
    if why:
        yield TOKENIZER_MISSING.diag(f"`model_name_or_path: {config.values.get('model_name_or_path')}`: {why}. Copy "
                                     "the tokenizer files from the base model into the folder", **at)
