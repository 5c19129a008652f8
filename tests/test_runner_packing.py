"""Packing without LLaMA-Factory: the knapsack, the preprocessing batches, the masks, and a packed run on CPU.

The parity with LLaMA-Factory itself (the same packs, batch and losses) is in tests/test_runner_lf_parity.py.
"""

import json
import random

import pytest

from helpers import run_cli
from lfgate.runner import packing
from runner_helpers import tiny_model, write_training_project  # noqa: F401  (fixture)


def test_greedy_knapsack_takes_the_largest_that_fits_and_respects_the_capacity():
    lengths = [5, 3, 9, 1, 4, 4, 10]
    packs = packing.greedy_knapsack(list(lengths), 10)
    assert packs == [[10], [9, 1], [5, 4], [4, 3]]
    rng = random.Random(3)
    for _ in range(50):
        numbers = [rng.randint(1, 20) for _ in range(rng.randint(1, 40))]
        packs = packing.greedy_knapsack(list(numbers), 20)
        assert sorted(x for p in packs for x in p) == sorted(numbers) and all(sum(p) <= 20 for p in packs)


@pytest.mark.parametrize("n_rows,batch,workers,expected", [
    (10, 4, None, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
    (10, 4, 3, [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]),  # shards of 4, 3, 3 rows (datasets' contiguous shard())
    (10, None, 2, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]),
    (3, 1000, 16, [[0], [1], [2]]),  # num_proc above the row count is lowered to it
])
def test_chunks_follow_datasets_map_batches_and_shards(n_rows, batch, workers, expected):
    assert packing.chunks(list(range(n_rows)), n_rows, batch, workers) == expected


def test_a_dropped_row_still_counts_for_the_batch_boundaries():
    rows = [0, 1, 3, 4, 5]  # row 2 was dropped ("Dropped invalid example")
    assert packing.chunks(rows, 6, 3, None) == [[0, 1], [2, 3, 4]]


def test_packs_are_cutoff_long_with_positions_restarting_and_neat_sample_numbers():
    features = [{"input_ids": [7] * n, "labels": [8] * n} for n in (3, 5, 2, 6)]
    packs = packing.pack_batch(features, cutoff_len=9, pad_token_id=0, neat=True)
    assert [len(p["input_ids"]) for p in packs] == [9, 9]
    first = packs[0]  # 6 + 2 (knapsack of capacity 8)
    assert first["position_ids"] == [0, 1, 2, 3, 4, 5, 0, 1, 0]
    assert first["attention_mask"] == [1] * 6 + [2, 2] + [0]
    assert first["labels"][-1] == -100 and first["input_ids"][-1] == 0
    plain = packing.pack_batch(features, cutoff_len=9, pad_token_id=0, neat=False)
    assert plain[0]["attention_mask"] == [1] * 9  # LLaMA-Factory attends across samples (and padding)


def test_block_diagonal_mask_lets_a_token_see_only_its_own_sample_so_far():
    import torch

    mask = packing.block_diag_mask(torch.tensor([[1, 1, 2, 2, 2, 0]]), torch.float32)
    allowed = (mask[0, 0] == 0).int().tolist()
    assert allowed == [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0],
                       [0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]]
    assert mask.min().item() == torch.finfo(torch.float32).min


def test_neat_packing_stops_a_token_from_seeing_the_sample_before_it(tiny_model):
    """The model's output for the second sample of a neat pack equals that sample run alone; with plain packing
    it does not (it attends to the first sample)."""
    import torch
    from transformers import AutoModelForCausalLM

    from lfgate.runner.collate import Collator

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
    a, b = [5, 6, 7, 8, 9], [10, 11, 12]
    features = packing.pack_batch([{"input_ids": a, "labels": a}, {"input_ids": b, "labels": b}], 16, 0, neat=True)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b])).logits[0]
        for neat in (True, False):
            feats = [dict(features[0], attention_mask=[1] * 16 if not neat else features[0]["attention_mask"])]
            batch = Collator(0, neat_packing=neat)(feats)
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
            start = feats[0]["input_ids"].index(10)
            assert torch.allclose(logits[start:start + 3], alone, atol=1e-5) == neat


def _packed_project(tmp_path, tiny_model, extra):
    rows = [{"instruction": f"What is {i % 7} plus {i % 5}?", "input": "", "output": f"{i % 7 + i % 5}."}
            for i in range(40)]
    return write_training_project(tmp_path, tiny_model, extra, rows=rows)


@pytest.mark.slow
def test_a_neat_packed_run_trains_fewer_longer_sequences(tiny_model, tmp_path):
    config = _packed_project(tmp_path, tiny_model, "neat_packing: true\nmax_steps: 3\n")
    code, _, err = run_cli("train", str(config), "cutoff_len=128", cwd=tmp_path)
    assert code == 0, err
    assert "40 training samples in" in err and "packs of 128 tokens" in err
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and all(h["loss"] > 0 for h in state["log_history"] if "loss" in h)
    log = (tmp_path / "out" / "running_log.txt").read_text()
    assert "packs of 128 tokens" in log  # said before output_dir was known, written once it was


def test_cutoff_not_a_multiple_of_8_with_packing_warns_for_the_builtin_runner(tiny_model, tmp_path):
    config = _packed_project(tmp_path, tiny_model, "packing: true\n")
    code, out, _ = run_cli("train", "--format", "json", str(config), "cutoff_len=100", "--dry-run", cwd=tmp_path)
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == "RN020"]
    assert code == 0 and len(found) == 1 and found[0]["severity"] == "warning"
    assert "tensor sizes 104 and 100" in found[0]["message"]


def test_packing_is_no_longer_refused(tiny_model, tmp_path):
    config = _packed_project(tmp_path, tiny_model, "packing: true\nneat_packing: true\n")
    code, out, err = run_cli("train", "--format", "json", str(config), "--dry-run", cwd=tmp_path)
    assert code == 0, err
    assert not {"RN005", "RN020"} & {d["code"] for d in json.loads(out)["diagnostics"]}
