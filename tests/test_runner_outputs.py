"""The training output as LLaMA-Factory leaves it (issue 25 §4): every file with the user's umask, a run log that
ends with what stopped the run, and an adapter and tokenizer that work from another folder."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import pytest

from conftest import ROOT
from helpers import run_cli
from lfgate.runner.runlog import NAME, RunLog
from runner_helpers import one_thread, tiny_model, write_training_project  # noqa: F401  (fixtures)


@pytest.fixture
def umask_027():
    before = os.umask(0o027)
    yield 0o640
    os.umask(before)


def _last_lines(out_dir, n=1):
    return [line.split("] ", 1)[1] for line in (out_dir / NAME).read_text(encoding="utf-8").splitlines()[-n:]]


HUB_ID = "lfgate-tests/tiny-qwen2"


def _hub_cache(model_dir, cache, monkeypatch):
    """The model as a Hugging Face cache holds a download of HUB_ID (cache_dir in the YAML), offline."""
    import huggingface_hub.constants

    repo = cache / ("models--" + HUB_ID.replace("/", "--"))
    commit = "0" * 40
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


# -- one short run, used as a user would use it ----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Could not find a config file")  # peft, saving for a hub id offline
@pytest.mark.parametrize("given", ["models/tiny", HUB_ID])
def test_the_output_has_the_umask_mode_and_works_from_another_folder(tiny_model, tmp_path, umask_027, one_thread,
                                                                     monkeypatch, given):
    pytest.importorskip("peft")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    project = tmp_path / "project"
    extra = "max_steps: 2\n"
    if given == HUB_ID:
        _hub_cache(tiny_model, project / "hub", monkeypatch)
        extra += "cache_dir: hub\n"
    else:
        shutil.copytree(tiny_model, project / given)  # a relative path, as users write it
    config = write_training_project(project, given, extra)
    config.write_text(config.read_text().replace("save_steps: 5", "save_steps: 1"))
    code, _, err = run_cli("train", str(config), cwd=project)
    assert code == 0, err
    out = project / "out"

    # every file the run wrote, the weights and the checkpoints' included, has 0666 & ~umask
    modes = {str(p.relative_to(out)): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in modes and "checkpoint-2/adapter_model.safetensors" in modes
    assert {name: mode for name, mode in modes.items() if mode != umask_027} == {}

    # base_model_name_or_path is what the YAML says (a hub id stays one), as peft writes it for LLaMA-Factory
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == given

    # copied elsewhere, the adapter loads on the base and generates from the saved tokenizer's chat template
    elsewhere = tmp_path / "elsewhere" / "adapter"
    shutil.copytree(out, elsewhere)
    tokenizer = AutoTokenizer.from_pretrained(str(elsewhere))
    text = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 plus 3?"}], tokenize=False)
    assert text == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                    "<|im_end|>\n<|im_start|>user\nWhat is 2 plus 3?<|im_end|>\n<|im_start|>assistant\n")
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    model = PeftModel.from_pretrained(base, str(elsewhere))
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_a_run_that_fails_mid_training_ends_its_log_with_the_error(tiny_model, tmp_path, monkeypatch, one_thread):
    pytest.importorskip("peft")
    from transformers import Trainer

    steps = []
    original = Trainer.training_step

    def failing_step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            raise RuntimeError("fake step failure")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", failing_step)
    config = write_training_project(tmp_path, tiny_model, "max_steps: 4\n")
    code, _, _ = run_cli("train", str(config), cwd=tmp_path)
    assert code != 0 and len(steps) == 2
    assert _last_lines(tmp_path / "out") == ["failed: RuntimeError: fake step failure"]


# -- the run log --------------------------------------------------------------------------------------------------
def test_ctrl_c_is_the_logs_last_line(tmp_path):
    log = RunLog(stream=open(os.devnull, "w"))
    log.open(str(tmp_path))
    log.say("model: loaded")
    with pytest.raises(KeyboardInterrupt), log.until_stopped():
        raise KeyboardInterrupt
    assert _last_lines(tmp_path, 2) == ["model: loaded", "stopped: interrupted (KeyboardInterrupt)"]


def test_sigterm_is_logged_before_the_process_ends_as_sigterm_ends_it(tmp_path):
    script = ("import os, signal, sys, time\n"
              "from lfgate.runner.runlog import RunLog\n"
              "log = RunLog(stream=sys.stdout)\n"
              "log.open(sys.argv[1])\n"
              "with log.until_stopped():\n"
              "    log.say('step 1/4')\n"
              "    os.kill(os.getpid(), signal.SIGTERM)\n"
              "    time.sleep(30)\n"
              "log.say('never')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60,
                          cwd=str(ROOT))
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert _last_lines(tmp_path, 2) == ["step 1/4", "stopped by signal SIGTERM"]


def test_the_signal_handlers_are_put_back_after_the_run(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    log = RunLog(stream=open(os.devnull, "w"))
    log.open(str(tmp_path))
    with log.until_stopped():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    assert (tmp_path / NAME).read_text() == ""  # a run that finished says nothing of stopping


# -- the weights' mode --------------------------------------------------------------------------------------------
def test_the_weights_mode_is_fixed_without_following_a_link(tmp_path, umask_027):
    from lfgate.runner.outputs import give_umask_modes

    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"x")
    outside.chmod(0o600)
    out = tmp_path / "out"
    out.mkdir()
    (out / "adapter_model.safetensors").write_bytes(b"x")
    (out / "adapter_model.safetensors").chmod(0o600)
    (out / "linked.safetensors").symlink_to(outside)
    assert give_umask_modes(str(out)) == [str(out / "adapter_model.safetensors")]
    assert stat.S_IMODE((out / "adapter_model.safetensors").stat().st_mode) == umask_027
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600


def test_the_exported_model_has_the_umask_mode_and_a_chat_template(tiny_model, tmp_path, umask_027, one_thread):
    pytest.importorskip("peft")
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj"])).save_pretrained(
        str(tmp_path / "saves" / "lora"))
    (tmp_path / "export.yaml").write_text(f"model_name_or_path: {tiny_model}\nadapter_name_or_path: saves/lora\n"
                                          "template: qwen\nexport_dir: merged\n")
    code, _, err = run_cli("export", "export.yaml", cwd=tmp_path)
    assert code == 0, err
    merged = tmp_path / "merged"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in merged.iterdir() if p.is_file()}
    assert "model.safetensors" in modes and {n: m for n, m in modes.items() if m != umask_027} == {}
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False).endswith(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
