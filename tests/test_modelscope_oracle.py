"""Against LLaMA-Factory 0.9.5 and the modelscope SDK it downloads with (the LFGATE_LF_PYTHON venv): the folder
lfgate takes a hub id from is the SDK's own cache folder for it, in both layouts; and llamafactory-cli asks ModelScope
before that cache, so offline it fails even for a cached model, which `lfgate train --backend llamafactory` says.

No network: the SDK's endpoint is a refused local port (MODELSCOPE_ENDPOINT=http://127.0.0.1:9).
"""

import json
import os
import pathlib
import subprocess

import pytest

from conftest import oracle_missing

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = "qwen/Tiny-0.5B-Instruct"
LAYOUTS = (("models", "qwen--Tiny-0.5B-Instruct", "snapshots", "master"), ("models", "qwen", "Tiny-0___5B-Instruct"))

_PROBE = r"""
import json, os, sys
from types import SimpleNamespace
from modelscope import snapshot_download
from llamafactory.extras.misc import try_download_model_from_other_hub

name = sys.argv[1]
out = {"sdk_cache": snapshot_download(name, revision="master", local_files_only=True)}
try:
    args = SimpleNamespace(model_name_or_path=name, model_revision="main", cache_dir=None, ms_hub_token=None)
    out["llamafactory"] = try_download_model_from_other_hub(args)
except Exception as err:
    out["llamafactory_raised"] = f"{type(err).__name__}: {err}"[:300]
print(json.dumps(out))
"""


def _python() -> str:
    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    return python


def _cache(root: pathlib.Path, layout) -> pathlib.Path:
    folder = root.joinpath(*layout)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _env(root, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSCOPE_", "USE_OPENMIND"))}
    return {**env, "USE_MODELSCOPE_HUB": "1", "MODELSCOPE_CACHE": str(root), "HOME": str(tmp_path / "home"),
            "MODELSCOPE_ENDPOINT": "http://127.0.0.1:9", "DISABLE_VERSION_CHECK": "1"}


@pytest.mark.llamafactory
@pytest.mark.parametrize("layout", LAYOUTS, ids=["snapshots", "legacy"])
def test_lfgate_takes_the_sdks_own_cache_folder_and_llamafactory_fails_offline_even_so(tmp_path, layout):
    from lfgate import hub_cache

    python = _python()
    root = tmp_path / "ms"
    folder = _cache(root, layout)
    env = _env(root, tmp_path)
    run = subprocess.run([python, "-c", _PROBE, MODEL], capture_output=True, text=True, env=env, timeout=120)
    if "No module named" in run.stderr:
        oracle_missing(f"the LFGATE_LF_PYTHON interpreter lacks llamafactory or modelscope: {run.stderr[-200:]}")
    assert run.returncode == 0, run.stderr[-2000:]
    said = json.loads(run.stdout.strip().splitlines()[-1])
    found = hub_cache.find_model(MODEL, True, env=env)
    assert found is not None and found.path == said["sdk_cache"] == str(folder)
    # LLaMA-Factory's own download does not fall back to that cache offline: `--backend llamafactory` must say so
    assert "llamafactory" not in said and "E1020" in said["llamafactory_raised"], said


def test_the_llamafactory_backend_is_told_that_it_will_not_use_the_cache_offline(tmp_path, monkeypatch):
    from helpers import run_cli
    from lfgate.runner import hub

    monkeypatch.setattr(hub, "_head", lambda url, timeout: "faked: no network")
    for key, value in _env(tmp_path / "ms", tmp_path).items():
        if key.startswith(("USE_MODELSCOPE", "MODELSCOPE_", "HOME")):
            monkeypatch.setenv(key, value)
    folder = _cache(tmp_path / "ms", LAYOUTS[1])
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    (project / "data" / "dataset_info.json").write_text(json.dumps({"demo": {"file_name": "demo.json"}}))
    (project / "data" / "demo.json").write_text(json.dumps([{"instruction": "Q", "input": "", "output": "A"}] * 4))
    (project / "train.yaml").write_text(f"model_name_or_path: {MODEL}\nstage: sft\ndo_train: true\n"
                                        "finetuning_type: lora\ndataset: demo\ndataset_dir: data\ntemplate: qwen\n"
                                        "output_dir: out\nreport_to: none\n")
    code, out, err = run_cli("train", "--backend", "llamafactory", "--dry-run", "train.yaml", cwd=project)
    assert code == 1, out + err
    assert f"is in the ModelScope cache ({folder}), but ModelScope does not answer" in out and "RN012" in out
    assert f"model_name_or_path: {folder}" in out
