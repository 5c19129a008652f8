"""Which tokenizer a model uses, by family, from what the config says: the hub id, a local config.json, the template.

A family is a vocabulary and a pre-tokenizer that many checkpoints share (Qwen2, Qwen2.5, Qwen3 and QwQ share one
byte-level BPE of 151,643 tokens; Llama 3.0-3.3 one of 128,000). lfgate counts a family's tokens exactly when a
package of the `tokens` extra ships that vocabulary (counters.py), else estimates them from the text's make-up
with coefficients calibrated against the family's real tokenizer (estimate.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

QWEN2, LLAMA3, DEEPSEEK3, GLM4, MISTRAL, GEMMA, OTHER = "qwen2", "llama3", "deepseek3", "glm4", "mistral", "gemma", \
    "other"


@dataclass(frozen=True)
class Family:
    name: str
    label: str  # for messages: "Qwen2.5"
    bos: bool  # the tokenizer has a bos token (a template's bos slot is one token)
    specials: str = r"<\|[^|<>\s]{1,40}\|>"  # how its special tokens are spelled (one token each)


FAMILIES = {f.name: f for f in (
    Family(QWEN2, "Qwen2/2.5/3", bos=False),
    Family(LLAMA3, "Llama 3", bos=True),
    Family(DEEPSEEK3, "DeepSeek-V3/R1", bos=True, specials=r"<｜[^｜<>]{1,40}｜>"),
    Family(GLM4, "GLM-4", bos=False, specials=r"<\|[^|<>\s]{1,40}\|>|\[gMASK\]|<sop>"),
    Family(MISTRAL, "Mistral", bos=True, specials=r"\[/?(?:INST|AVAILABLE_TOOLS|TOOL_RESULTS|SYSTEM_PROMPT)\]|</?s>"),
    Family(GEMMA, "Gemma", bos=True, specials=r"<(?:start|end)_of_turn>|<bos>|<eos>"),
    Family(OTHER, "an unknown tokenizer", bos=True),
)}

# Hub-id names (lower case, the part after the owner) -> family. First match wins: distilled models keep the
# tokenizer of the model they were distilled into (DeepSeek-R1-Distill-Qwen is a Qwen2.5).
_BY_NAME = [
    (re.compile(r"distill-qwen|qwen(?!3\.[5-9])|qwq"), QWEN2),
    (re.compile(r"distill-llama|llama-?3|meta-llama-3"), LLAMA3),
    (re.compile(r"deepseek-(?:v3|r1)(?![.\d])"), DEEPSEEK3),
    (re.compile(r"glm-?4|glm-z1"), GLM4),
    (re.compile(r"mistral|mixtral|ministral|codestral"), MISTRAL),
    (re.compile(r"gemma"), GEMMA),
]
# config.json model_type -> family (a llama model_type is Llama 3 only with its 128k vocabulary)
_BY_TYPE = {"qwen2": QWEN2, "qwen2_moe": QWEN2, "qwen3": QWEN2, "qwen3_moe": QWEN2, "qwen2_vl": QWEN2,
            "qwen2_5_vl": QWEN2, "deepseek_v3": DEEPSEEK3, "glm4": GLM4, "glm4_moe": GLM4, "mistral": MISTRAL,
            "mixtral": MISTRAL, "gemma": GEMMA, "gemma2": GEMMA, "gemma3": GEMMA, "gemma3_text": GEMMA}
# LLaMA-Factory template -> family, the last hint when the model says nothing
_BY_TEMPLATE = {"qwen": QWEN2, "qwen3": QWEN2, "qwen3_nothink": QWEN2, "qwen2_vl": QWEN2, "llama3": LLAMA3,
                "deepseek3": DEEPSEEK3, "glm4": GLM4, "mistral": MISTRAL, "gemma": GEMMA, "gemma2": GEMMA,
                "gemma3": GEMMA}


def family_of(model: Optional[str], config_json: Optional[dict] = None, template: Optional[str] = None) -> Family:
    """The tokenizer family of a model: from its config.json when there is one, else its name, else the template."""
    if isinstance(config_json, dict):
        model_type = config_json.get("model_type")
        if model_type == "llama":
            vocab = config_json.get("vocab_size")
            if isinstance(vocab, int) and vocab >= 128000:
                return FAMILIES[LLAMA3]
        elif model_type in _BY_TYPE:
            return FAMILIES[_BY_TYPE[model_type]]
    if isinstance(model, str) and model:
        name = model.strip().rstrip("/").rsplit("/", 1)[-1].lower()
        for pattern, family in _BY_NAME:
            if pattern.search(name):
                return FAMILIES[family]
    if isinstance(template, str) and template in _BY_TEMPLATE:
        return FAMILIES[_BY_TEMPLATE[template]]
    return FAMILIES[OTHER]
