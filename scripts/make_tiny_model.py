"""Build a tiny Qwen2-architecture model and a BPE tokenizer locally, with no network.

    python scripts/make_tiny_model.py OUT_DIR [--layers 2] [--hidden 64] [--vocab 1024] [--text FILE ...]

The tokenizer is a byte-level BPE trained on the spot (on the given text files, else a built-in corpus) with
Qwen's special tokens: `<|endoftext|>` (eos and pad, as in Qwen2 base models), `<|im_start|>`, `<|im_end|>`.
Weights are random (seeded), saved as safetensors. The quickstart example, the tests and the CUDA benchmark
(`--hidden 768 --layers 12 --vocab 32000` is about 100M parameters) all build their model with this script.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Iterable, List, Optional

QWEN2_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_BUILTIN_TEXT = [
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "system user assistant Human Assistant System tool response",
    "The quick brown fox jumps over the lazy dog. What is the answer? The answer is",
    "Translate to French: hello -> bonjour. Count from one to ten: 1 2 3 4 5 6 7 8 9 10.",
    "plus minus times equals zero one two three four five six seven eight nine ten",
]


def _texts_from_files(paths: Iterable[str]) -> List[str]:
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        try:  # a JSON dataset: collect every string in it
            stack = [json.loads(raw)]
            while stack:
                item = stack.pop()
                if isinstance(item, str):
                    texts.append(item)
                elif isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)
        except ValueError:
            texts.extend(raw.splitlines())
    return texts


def build_tokenizer(out_dir: str, texts: List[str], vocab_size: int = 1024) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Qwen2's own pre-tokenizer (NFC, its split regex, byte level), so any transformers version that rebuilds
    # the tokenizer as Qwen2Tokenizer from config.json splits text exactly as tokenizer.json does.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"],
                                   model_max_length=32768, clean_up_tokenization_spaces=False)
    fast.save_pretrained(out_dir)
    # A tokenizer_config.json that transformers 4.x (LLaMA-Factory's) and 5.x both read the same way.
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|endoftext|>",
                   "pad_token": "<|endoftext|>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                   "model_max_length": 32768, "clean_up_tokenization_spaces": False}, f, indent=2)
    for stale in ("special_tokens_map.json",):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))


def build_model(out_dir: str, vocab_size: int, hidden: int = 64, layers: int = 2, heads: Optional[int] = None,
                seed: int = 0) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    heads = heads or (hidden // 64 if hidden >= 256 else max(1, hidden // 16))  # head_dim 64 at real sizes
    config = Qwen2Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 4 if hidden < 256
                         else int(hidden * 8 / 3) // 64 * 64, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir, safe_serialization=True)


def make(out_dir: str, texts: Optional[List[str]] = None, vocab_size: int = 1024, hidden: int = 64,
         layers: int = 2, seed: int = 0, model_vocab: Optional[int] = None) -> str:
    """model_vocab: embedding rows, when larger than the tokenizer's vocabulary (a real-size output layer)."""
    os.makedirs(out_dir, exist_ok=True)
    build_tokenizer(out_dir, list(texts or []) + _BUILTIN_TEXT, vocab_size)
    with open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8") as f:
        real_vocab = len(json.load(f)["model"]["vocab"])
    build_model(out_dir, vocab_size=max(real_vocab, model_vocab or 0), hidden=hidden, layers=layers, seed=seed)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-vocab", type=int, help="embedding rows, if more than the tokenizer has")
    parser.add_argument("--text", nargs="*", default=[], help="files to train the tokenizer on (JSON or text)")
    args = parser.parse_args(argv)
    make(args.out_dir, _texts_from_files(args.text), args.vocab, args.hidden, args.layers, args.seed,
         args.model_vocab)
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
