"""`lfgate preview` and `lfgate doctor`."""

import json

import pytest

from conftest import write_project
from helpers import run_cli
from runner_helpers import tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("transformers")


def test_preview_json_gives_ids_labels_and_text_with_the_prompt_masked(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    code, out, err = run_cli("preview", str(config), "--samples", "2", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["sample"] for r in rows] == [0, 1]
    first = rows[0]
    assert len(first["input_ids"]) == len(first["labels"]) == first["tokens"]
    assert first["text"].startswith("<|im_start|>system\nYou are Qwen")
    assert first["text"].endswith("<|im_start|>assistant\n0 plus 0 is 0.<|im_end|>\n")
    assert first["trained_text"] == "0 plus 0 is 0.<|im_end|>\n"
    masked = first["labels"].index(next(x for x in first["labels"] if x != -100))
    assert set(first["labels"][:masked]) == {-100}


def test_preview_text_sets_trained_tokens_apart(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    code, out, _ = run_cli("preview", str(config), "train_on_prompt=true", "-n", "1", cwd=tmp_path)
    assert code == 0
    body = out.splitlines()[1:]
    assert "\n".join(body).strip().startswith("[[<|im_start|>system")  # train_on_prompt: everything is trained


def test_preview_refuses_a_template_it_cannot_render(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    code, _, err = run_cli("preview", str(config), "template=qwen2_vl", cwd=tmp_path)
    assert code == 2 and "qwen2_vl" in err


def test_doctor_json_lists_versions_devices_and_env(monkeypatch):
    monkeypatch.setenv("NNODES", "2")
    code, out, _ = run_cli("doctor", "--format", "json", "--no-network")
    assert code == 0
    info = json.loads(out)
    names = {row["name"]: row for row in info["packages"]}
    assert {"Python", "torch", "transformers", "peft", "deepspeed", "torch-npu", "CANN"} <= set(names)
    # LLaMA-Factory's current NPU image (docker/docker-npu): CANN 9.1.0, torch 2.10.0 / torch-npu 2.10.0.post2
    assert names["CANN"]["known_good"] == "9.1.0" and names["torch-npu"]["known_good"] == "2.10.0.post2"
    assert names["torch"]["known_good"] == "2.10.0" and names["Python"]["known_good"] == "3.12"
    rows = info["ascend"]["known_good"]
    assert [r["torch-npu"] for r in rows][-1] == "2.1.0.post3"  # older known-good rows are kept
    assert info["devices"]["kind"] in ("cpu", "cuda", "npu")
    assert info["env"]["NNODES"] == "2"
    assert "hubs" not in info  # --no-network: nothing is contacted


# -- one finding per defect: a fact `check` reports is not reported again by `train` ------------------------------


def test_a_missing_local_model_is_one_finding_in_train(tmp_path):
    from lfgate.runner.rules import MODEL_NOT_FOUND

    write_project(tmp_path, MODEL_NOT_FOUND.bad)
    code, out, err = run_cli("train", "train.yaml", "--dry-run", "--format", "json", cwd=tmp_path)
    found = [d["code"] for d in json.loads(out)["diagnostics"] if "models/nope" in d["message"]]
    assert found == ["RN012"], (found, err)


def test_a_missing_deepspeed_file_is_one_finding_in_train(tmp_path):
    from lfgate.runner.rules import DEEPSPEED

    files = dict(DEEPSPEED.bad)
    del files["ds_z2.json"]
    write_project(tmp_path, files)
    code, out, err = run_cli("train", "train.yaml", "--dry-run", "--format", "json", cwd=tmp_path)
    about_file = [d["code"] for d in json.loads(out)["diagnostics"] if "does not exist" in d["message"]
                  or "not valid JSON" in d["message"] or d["code"] == "TY212"]
    assert about_file == ["TY212"], (about_file, err)
