"""`lfgate train --rehearse` on CPU with a tiny model: the costliest batch, two real steps, nothing saved."""

import json
import shutil

import pytest

from helpers import run_cli
from lfgate.runner import memory, rehearse
from runner_helpers import one_thread, tiny_model, write_training_project  # noqa: F401  (fixtures)

pytest.importorskip("peft")


pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(n=24):
    return [{"instruction": "count " + "one two three " * (i % 6), "input": "", "output": f"{i} done"}
            for i in range(n)]


def _rehearse(tmp_path, *argv, config=None):
    code, out, err = run_cli("train", "--format", "json", str(config), "--rehearse", *argv, cwd=tmp_path)
    assert code in (0, 1), err
    return code, json.loads(out), err


def test_rehearsal_measures_the_longest_batch_and_saves_nothing(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, rows=_rows())
    code, report, err = _rehearse(tmp_path, config=config)
    result = report["rehearsal"]
    assert code == 0 and result["ok"], (result, err)
    first = result["attempts"][0]
    assert len(result["attempts"]) == 1 and first["batch"] == 4 and first["fits"]
    assert first["peak"]["rss"] > first["peak"]["rss_before"] > 0 and result["training_bytes"] > 0
    assert first["peak"]["total"] >= first["peak"]["rss"]
    longest = max(len(r["instruction"]) for r in _rows())
    assert first["longest"] == 64  # the longest samples reach cutoff_len (64) ...
    assert longest > 64 and 0 < first["trained_tokens"] < first["tokens"]  # ... and some of them have labels
    assert len(first["losses"]) == 2 and all(x > 0 for x in first["losses"]) and first["step_s"] > 0
    assert result["steps"] == 18 and result["wall_s_at_most"] >= result["wall_s_typical"] > 0  # 24/4 * 3 epochs
    assert not (tmp_path / "out").exists()


def test_text_report_and_the_verdict(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, rows=_rows())
    code, out, _ = run_cli("train", str(config), "--rehearse", cwd=tmp_path)
    assert code == 0
    assert "rehearsal (the costliest batch" in out and "resident" in out and "verdict    ok" in out


def test_a_memory_cap_below_the_need_does_not_fit_and_the_search_is_bounded(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, rows=_rows())
    code, report, _ = _rehearse(tmp_path, "--memory", "0.05", config=config)
    result = report["rehearsal"]
    assert code == 1 and not result["ok"] and not result["fits"] and "suggest" not in result
    tried = [(a["batch"], a["cutoff_len"], a["gradient_checkpointing"]) for a in result["attempts"]]
    assert tried == [(4, 64, False), (2, 64, False), (1, 64, False), (1, 64, True)]  # cutoff 32 < MIN_CUTOFF
    assert len(tried) <= rehearse.MAX_EXTRA_ATTEMPTS + 1
    text = rehearse.render_text(result)
    assert "DOES NOT FIT" in text and "no setting of the 4 measured fits" in text and "verdict    does not fit" in text


def test_the_nearest_fitting_settings_are_measured_by_halving(tiny_model, tmp_path, monkeypatch):
    """A device where each sample of the batch costs 1 GiB and 2.5 GiB are free: batch 2 fits, with the
    accumulation doubled so that the run trains the same."""
    config = write_training_project(tmp_path, tiny_model, rows=_rows(), extra="gradient_accumulation_steps: 3\n")
    real_run = rehearse.run_attempt

    def run(config, machine, precision, data, model, attempt, limit):
        real_run(config, machine, precision, data, model, attempt, limit)
        attempt.peak = {"reserved": attempt.batch * memory.GIB, "allocated": attempt.batch * memory.GIB,
                        "available": int(2.5 * memory.GIB), "total": 3 * memory.GIB}
        attempt.fits = memory.fits(attempt.peak, limit)

    monkeypatch.setattr(rehearse, "run_attempt", run)
    code, report, _ = _rehearse(tmp_path, config=config)
    result = report["rehearsal"]
    assert code == 1 and [a["batch"] for a in result["attempts"]] == [4, 2]
    assert result["suggest"] == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 6}
    assert "fits with  per_device_train_batch_size: 2, gradient_accumulation_steps: 6" in rehearse.render_text(result)


def test_a_nan_loss_fails_the_rehearsal(tiny_model, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "nan-model"
    shutil.copytree(tiny_model, broken)
    weights = load_file(str(broken / "model.safetensors"))
    name = next(k for k in weights if "layers.0.mlp.down_proj" in k)
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    config = write_training_project(tmp_path, broken, rows=_rows())
    code, report, _ = _rehearse(tmp_path, config=config)
    result = report["rehearsal"]
    assert code == 1 and result["fits"] and result["finite"] is False and len(result["attempts"]) == 1
    text = rehearse.render_text(result)
    assert "NOT FINITE" in text and "verdict    failed" in text


@pytest.mark.parametrize("argv,message", [(["--dry-run"], "choose one"), (["--backend", "llamafactory"], "built-in"),
                                          (["--memory", "-1"], "positive")])
def test_rehearse_usage_errors(tiny_model, tmp_path, argv, message):
    config = write_training_project(tmp_path, tiny_model)
    code, _, err = run_cli("train", str(config), "--rehearse", *argv, cwd=tmp_path)
    assert code == 2 and message in err


def test_search_order_halves_the_batch_then_checkpoints_then_halves_cutoff():
    attempt = rehearse.Attempt(4, 512, False)
    seen = []
    while attempt is not None:
        seen.append((attempt.batch, attempt.cutoff_len, attempt.checkpointing))
        attempt = rehearse.next_attempt(None, attempt)
    assert seen == [(4, 512, False), (2, 512, False), (1, 512, False), (1, 512, True), (1, 256, True),
                    (1, 128, True), (1, 64, True)]
