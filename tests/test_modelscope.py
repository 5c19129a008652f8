"""USE_MODELSCOPE_HUB / USE_OPENMIND_HUB on a machine without network (issue 25 §5): every command takes a hub id
from that hub's local cache (lfgate/hub_cache.py), says so, and fails fast with RN012 when the model is not there.

No network: the hub probe (runner/hub.py `_head`) is faked in every test, and a `modelscope` package that raises on
import stands in for the SDK, so that a test fails if any command imports it while the model is in the cache.
"""

import json
import os
import re
import shutil
import time

import pytest

from helpers import run_cli
from runner_helpers import tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("transformers")

MODEL = "qwen/Tiny-0.5B-Instruct"  # a dot in the name: the SDK's older layout spells it `___`
LAYOUTS = {
    "snapshots": ("models", "qwen--Tiny-0.5B-Instruct", "snapshots", "master"),
    "legacy": ("models", "qwen", "Tiny-0___5B-Instruct"),
}


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """HF offline with an empty cache, the hub probe faked (recorded, answering "no answer" at once), and an SDK
    that must not be imported. Returns the list of probed URLs."""
    from lfgate.runner import hub

    probed = []

    def head(url, timeout):
        probed.append(url)
        return "faked: no network"

    monkeypatch.setattr(hub, "_head", head)
    for name in ("USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB", "MODELSCOPE_CACHE", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    sdk = tmp_path / "sdk"
    for package in ("modelscope", "openmind"):
        (sdk / package).mkdir(parents=True)
        (sdk / package / "__init__.py").write_text(f"raise RuntimeError('the {package} SDK was imported')\n")
    monkeypatch.syspath_prepend(str(sdk))
    return probed


def _modelscope_cache(tiny_model, root, layout) -> str:
    folder = root.joinpath(*LAYOUTS[layout])
    shutil.copytree(tiny_model, folder)
    return str(folder)


def _project(tmp_path):
    return write_training_project(tmp_path / "proj", MODEL)


def _modelscope_env(monkeypatch, root):
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(root))


# -- where: the one folder every command loads ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_find_model_takes_the_modelscope_cache_instead_of_hugging_faces(tiny_model, tmp_path, layout):
    from lfgate import hub_cache

    folder = _modelscope_cache(tiny_model, tmp_path / "ms", layout)
    hf = tmp_path / "hf" / "models--qwen--Tiny-0.5B-Instruct" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_model, hf)
    env = {"MODELSCOPE_CACHE": str(tmp_path / "ms"), "HF_HUB_CACHE": str(tmp_path / "hf"), "HOME": str(tmp_path)}
    assert hub_cache.find_model(MODEL, env=env).path == str(hf)  # no USE_MODELSCOPE_HUB: Hugging Face's
    found = hub_cache.find_model(MODEL, env={**env, "USE_MODELSCOPE_HUB": "1"})
    assert found.path == folder and found.origin == hub_cache.MODELSCOPE_CACHE
    assert hub_cache.find_tokenizer(MODEL, env={**env, "USE_MODELSCOPE_HUB": "1"}).path.startswith(folder)
    shutil.rmtree(folder)  # LLaMA-Factory then downloads from ModelScope: never the Hugging Face copy
    assert hub_cache.find_model(MODEL, env={**env, "USE_MODELSCOPE_HUB": "1"}) is None
    assert hub_cache.find_tokenizer(MODEL, env={**env, "USE_MODELSCOPE_HUB": "1"}) is None


# -- every command, from the ModelScope cache, offline ----------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_check_stats_preview_and_dry_run_use_the_modelscope_cache(tiny_model, tmp_path, monkeypatch, no_network,
                                                                  layout):
    root = tmp_path / "ms"
    folder = _modelscope_cache(tiny_model, root, layout)
    _modelscope_env(monkeypatch, root)
    config = _project(tmp_path)
    cwd = config.parent
    origin = f"counted with the model's tokenizer.json from the ModelScope cache ({root})"

    code, out, err = run_cli("stats", "--format", "json", str(config), "cutoff_len=16", cwd=cwd)
    assert code == 0, err
    [stats] = json.loads(out)["datasets"]
    assert (stats["unit"], stats["exact"], stats["counted_with"]) == ("tokens", True, origin)

    code, out, err = run_cli("check", "--format", "json", str(config), "cutoff_len=16", cwd=cwd)
    [cut] = [d["message"] for d in json.loads(out)["diagnostics"] if d["code"] == "LK050"]
    assert origin in cut, cut
    counted = int(re.search(r"#0 \((\d+) tokens", cut).group(1))

    code, out, err = run_cli("preview", str(config), "-n", "1", "--format", "json", "cutoff_len=4096", cwd=cwd)
    assert code == 0, err
    [row] = json.loads(out)
    assert row["text"].startswith("<|im_start|>system\nYou are Qwen") and row["trained_tokens"] > 0
    assert row["tokens"] == counted == stats["lengths"]["total"]["min"]  # check counts what the runner encodes
    assert f"model {MODEL} from the ModelScope cache ({root}): {os.path.relpath(folder, root)}" in err, err

    code, out, err = run_cli("train", "--dry-run", "--format", "json", str(config), cwd=cwd)
    assert code == 0, err + out
    plan = json.loads(out)["plan"]
    assert plan["tokens"]["total"] > 0 and plan["lora"]["trainable"] > 0, plan  # tokenizer and config.json
    assert "from the ModelScope cache" in err
    assert no_network == []  # in the cache: no probe at all


def test_train_two_steps_on_the_cpu_from_the_modelscope_cache(tiny_model, tmp_path, monkeypatch, no_network):
    root = tmp_path / "ms"
    _modelscope_cache(tiny_model, root, "legacy")
    _modelscope_env(monkeypatch, root)
    config = _project(tmp_path)
    code, out, err = run_cli("train", str(config), "max_steps=2", "save_steps=2", cwd=config.parent)
    assert code == 0, err
    output = config.parent / "out"
    assert (output / "adapter_model.safetensors").is_file()
    said = f"model {MODEL} from the ModelScope cache ({root}): models/qwen/Tiny-0___5B-Instruct"
    assert said in err and said in (output / "running_log.txt").read_text(encoding="utf-8"), err
    assert "train_loss" in json.loads((output / "train_results.json").read_text(encoding="utf-8"))
    adapter = json.loads((output / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] in (MODEL, str(root.joinpath(*LAYOUTS["legacy"])))


def test_openmind_cache_for_preview_and_the_dry_run(tiny_model, tmp_path, monkeypatch, no_network):
    repo = tmp_path / "xdg" / "openmind" / "hub" / "models--qwen--Tiny-0.5B-Instruct"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("c" * 40)
    shutil.copytree(tiny_model, repo / "snapshots" / ("c" * 40))
    monkeypatch.setenv("USE_OPENMIND_HUB", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = _project(tmp_path)
    code, out, err = run_cli("preview", str(config), "-n", "1", cwd=config.parent)
    assert code == 0 and "from the openMind cache" in err, err
    code, out, err = run_cli("train", "--dry-run", "--format", "json", str(config), cwd=config.parent)
    assert code == 0 and json.loads(out)["plan"]["lora"]["trainable"] > 0, err + out
    assert no_network == []


# -- offline, not in the cache: one probe, a finding, in seconds --------------------------------------------------------
def _hang(monkeypatch):
    """The probe hangs (as a DNS lookup without network can): only runner/hub.py's deadline ends it."""
    from lfgate.runner import hub

    calls = []

    def head(url, timeout):
        calls.append(url)
        time.sleep(30)
        return None

    monkeypatch.setattr(hub, "_head", head)
    return calls


@pytest.mark.parametrize("command", ["preview", "dry-run", "train"])
def test_offline_miss_in_the_modelscope_cache_is_one_fast_finding(tmp_path, monkeypatch, no_network, command):
    root = tmp_path / "ms"
    root.mkdir()
    _modelscope_env(monkeypatch, root)
    config = _project(tmp_path)
    argv = {"preview": ("preview",), "dry-run": ("train", "--dry-run"), "train": ("train",)}[command]
    run_cli(*argv, str(config), cwd=config.parent)  # the imports, once: the time below is the probe's
    assert no_network == ["https://modelscope.cn"]  # one probe, of ModelScope (not Hugging Face)
    probed = _hang(monkeypatch)
    if command != "dry-run":  # the dry run keeps the real deadline (3 s); the others need not wait it out again
        from lfgate.runner import hub

        monkeypatch.setattr(hub, "PROBE_TIMEOUT", 0.5)
    start = time.monotonic()
    code, out, err = run_cli(*argv, str(config), cwd=config.parent)
    assert time.monotonic() - start < 5
    assert code == 1, err + out
    text = out + err
    assert f"{MODEL} is not in the ModelScope cache at {root}; offline" in text and "RN012" in text, text
    assert "Traceback" not in text and "E1020" not in text
    assert probed == ["https://modelscope.cn"]


def test_an_openmind_miss_names_the_openmind_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("USE_OPENMIND_HUB", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = _project(tmp_path)
    code, out, err = run_cli("train", "--dry-run", str(config), cwd=config.parent)
    assert code == 1
    assert f"is not in the openMind cache at {tmp_path / 'xdg' / 'openmind' / 'hub'}; offline" in out + err
    assert no_network == ["https://modelers.cn"]


def test_the_lint_path_imports_no_hub_sdk(tmp_path, monkeypatch, no_network):
    import sys

    root = tmp_path / "ms"
    root.mkdir()
    _modelscope_env(monkeypatch, root)
    config = _project(tmp_path)
    code, out, err = run_cli("check", str(config), cwd=config.parent)
    assert "modelscope" not in sys.modules and no_network == []  # check never probes nor imports a hub's SDK


# -- the README ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, heading", [("README.md", "## ModelScope and openMind"),
                                           ("README.zh-CN.md", "## 魔搭（ModelScope）与 openMind")])
def test_the_readmes_say_how_to_use_modelscope_and_where_lfgate_looks(name, heading):
    import pathlib

    text = (pathlib.Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")
    assert heading in text
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert "export USE_MODELSCOPE_HUB=1" in section and "lfgate train train.yaml --dry-run" in section
    # the places, in hub_cache.py's order: the model folder, ModelScope (both layouts), openMind, Hugging Face
    places = ["`model_name_or_path`", "`MODELSCOPE_CACHE`", "`~/.cache/modelscope`",
              "`models/OWNER--NAME/snapshots/master`", "`___`", "`$XDG_CACHE_HOME/openmind/hub`",
              "`~/.cache/openmind/hub`", "`HF_HUB_CACHE`", "RN012", "not in the ModelScope cache at PATH; offline"]
    at = [section.find(place) for place in places]
    assert -1 not in at and at == sorted(at), dict(zip(places, at))


# -- partial caches, the SDK -----------------------------------------------------------------------------------------
def test_a_cache_folder_without_weights_serves_preview_but_not_train(tiny_model, tmp_path, monkeypatch, no_network):
    root = tmp_path / "ms"
    folder = _modelscope_cache(tiny_model, root, "snapshots")
    os.remove(os.path.join(folder, "model.safetensors"))  # a tokenizer-only download
    _modelscope_env(monkeypatch, root)
    config = _project(tmp_path)
    code, out, err = run_cli("preview", str(config), "-n", "1", cwd=config.parent)
    assert code == 0 and "from the ModelScope cache" in err and no_network == [], err
    code, out, err = run_cli("train", str(config), "max_steps=1", cwd=config.parent)
    assert code != 0 and f"{MODEL} is not in the ModelScope cache at {root} with its weights; offline" in err, err
    assert no_network == ["https://modelscope.cn"] and not (config.parent / "out").exists()


def test_a_reachable_hub_downloads_with_the_sdk_only_the_files_asked_for(tmp_path, monkeypatch, no_network):
    """Online and not cached: the SDK downloads, as LLaMA-Factory's misc.py does (revision master for main); the
    dry run and preview ask it for the tokenizer and config files only."""
    import sys
    import types

    from lfgate.runner import config as config_mod, hub, recipe

    calls = []
    fake = types.ModuleType("modelscope")
    fake.snapshot_download = lambda name, **kw: calls.append((name, kw)) or str(tmp_path / "downloaded")
    monkeypatch.setitem(sys.modules, "modelscope", fake)
    monkeypatch.setattr(hub, "_head", lambda url, timeout: None)  # the hub answers
    _modelscope_env(monkeypatch, tmp_path / "ms")
    config = config_mod.load(str(_project(tmp_path)))
    assert recipe.hub_problem(config) is None
    assert recipe.model_path(config, weights=False) == str(tmp_path / "downloaded")
    assert recipe.model_path(config) == str(tmp_path / "downloaded")
    assert calls[0][1]["allow_file_pattern"] == ["*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja"]
    assert calls[1] == (MODEL, {"revision": "master", "cache_dir": None})
    monkeypatch.setattr(hub, "installed", lambda package: False)
    assert recipe.hub_problem(config) == (f"{MODEL} is not in the ModelScope cache at {tmp_path / 'ms'}, and "
                                          "USE_MODELSCOPE_HUB downloads it with the modelscope package, not "
                                          "installed: pip install modelscope")


def test_export_merges_the_model_from_the_modelscope_cache_and_fails_fast_without_it(tiny_model, tmp_path,
                                                                                     monkeypatch, no_network):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    root = tmp_path / "ms"
    _modelscope_cache(tiny_model, root, "snapshots")
    _modelscope_env(monkeypatch, root)
    lora = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                               peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "saves" / "lora")
    (tmp_path / "export.yaml").write_text(f"model_name_or_path: {MODEL}\nadapter_name_or_path: saves/lora\n"
                                          "template: qwen\nexport_dir: merged\nexport_size: 1\n")
    code, out, err = run_cli("export", "export.yaml", cwd=tmp_path)
    assert code == 0 and (tmp_path / "merged" / "model.safetensors").is_file(), err
    assert f"model {MODEL} from the ModelScope cache ({root})" in err and no_network == []
    shutil.rmtree(root)
    code, out, err = run_cli("export", "export.yaml", "export_dir=merged2", cwd=tmp_path)
    assert code == 1 and f"{MODEL} is not in the ModelScope cache at {root}; offline" in err, err
    assert no_network == ["https://modelscope.cn"] and not (tmp_path / "merged2").exists()
