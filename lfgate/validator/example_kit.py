"""What the rules' bad/good example projects are built from: one home for the base training YAML, the
one-entry registry and its records, so every family's examples (and docs/rules.md) agree.

Sample rules build theirs from records with ``samples.base.example``; the runner's (RN) from a local tiny model in
``runner/rules.py``.
"""

from __future__ import annotations

from typing import Dict

# A LoRA SFT run of a small hub model: every key a training rule's example does not set on purpose.
BASE_CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
               "template: qwen\noutput_dir: saves/qwen2.5-0.5b/lora/sft\n")
# data/dataset_info.json with one entry "a" for data/a.json, and an alpaca record LLaMA-Factory trains as is.
ONE_ENTRY_REGISTRY = '{"a": {"file_name": "a.json"}}\n'
ALPACA_RECORDS = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'


def config_example(extra: str = "", base: str = BASE_CONFIG) -> Dict[str, str]:
    """An example train.yaml: base with extra's lines; a key in both keeps extra's value at base's line."""
    lines = base.splitlines()
    keys = [line.split(":")[0] for line in lines]
    for line in extra.splitlines():
        key = line.split(":")[0]
        if key in keys and not line.startswith((" ", "-", "?", ":")):
            lines[keys.index(key)] = line
        else:
            lines.append(line)
            keys.append(key)
    return {"train.yaml": "\n".join(lines) + "\n"}


def entry_project(entry: str, data: str = ALPACA_RECORDS, name: str = "a.json") -> Dict[str, str]:
    """data/dataset_info.json whose entry "a" is ``entry`` (JSON text), and the data file ``name``."""
    return {"data/dataset_info.json": '{"a": ' + entry + '}\n', f"data/{name}": data}
