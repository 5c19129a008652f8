"""Shared by the tests/test_runner_*.py modules: a tiny Qwen2 model and tokenizer built locally, and projects."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

WORDS = ("alpha beta gamma delta apple river cloud stone green music paper light tiger bread chair ocean "
         "What is plus Count from one to Spell the word backwards color typical answer hello world").split()


def corpus_texts():
    return [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] + [
        "1 2 3 4 5 6 7 8 9 10", "Human: Assistant: System: You are a helpful assistant.",
        "<think>\nreasoning\n</think>\n\n", '{"name": "get_weather", "arguments": {"city": "Paris"}}']


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A 2-layer, 64-wide Qwen2-architecture model with a BPE tokenizer trained on the spot (no network)."""
    from make_tiny_model import make

    return pathlib.Path(make(str(tmp_path_factory.mktemp("tiny") / "model"), corpus_texts(), vocab_size=512))


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: the matrices are small, and threads only add contention on a busy CI
    machine (benchmarks/README.md). A module uses it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def arithmetic_rows(n):
    rows = []
    for i in range(n):
        a, b = i % 7, (i * 3) % 5
        rows.append({"instruction": f"What is {a} plus {b}?", "input": "", "output": f"{a} plus {b} is {a + b}."})
    return rows


def write_training_project(root: pathlib.Path, model: pathlib.Path, extra: str = "", rows=None,
                           output: str = "out") -> pathlib.Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "dataset_info.json").write_text(json.dumps({"demo": {"file_name": "demo.json"}}))
    (root / "data" / "demo.json").write_text(json.dumps(rows if rows is not None else arithmetic_rows(32)))
    (root / "train.yaml").write_text(
        f"model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 4\n"
        f"dataset: demo\ndataset_dir: data\ntemplate: qwen\ncutoff_len: 64\noutput_dir: {output}\n"
        "per_device_train_batch_size: 4\nlearning_rate: 1.0e-2\nlogging_steps: 2\nsave_steps: 5\nreport_to: none\n"
        "disable_gradient_checkpointing: true\nseed: 1\n" + extra)
    return root / "train.yaml"
