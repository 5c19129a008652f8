"""`lfgate export`: the export config checked first, then LoRA adapters merged as `llamafactory-cli export` does."""

import json

import pytest

from helpers import run_cli
from runner_helpers import tiny_model  # noqa: F401  (fixture)

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")


def _adapter(model_dir, out_dir):
    """A LoRA adapter with non-zero B matrices (a fresh one merges to no change), saved as training leaves it."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)
    lora.save_pretrained(out_dir)
    return lora.eval()


def _export_yaml(tmp_path, model, extra=""):
    path = tmp_path / "export.yaml"
    path.write_text(f"model_name_or_path: {model}\nadapter_name_or_path: saves/lora\ntemplate: qwen\n"
                    f"export_dir: merged\nexport_size: 1\n{extra}")
    return path


def test_the_merged_model_computes_what_the_adapter_model_computes(tiny_model, tmp_path):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with_adapter = _adapter(tiny_model, tmp_path / "saves" / "lora")
    _export_yaml(tmp_path, tiny_model, "infer_dtype: float32\n")
    code, out, err = run_cli("export", "export.yaml", cwd=tmp_path)
    assert code == 0, err
    merged_dir = tmp_path / "merged"
    assert (merged_dir / "model.safetensors").exists() and (merged_dir / "tokenizer.json").exists()
    assert not (merged_dir / "adapter_config.json").exists()  # a plain model: no peft needed to serve it
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    assert tokenizer.padding_side == "left"
    ids = tokenizer("What is 2 plus 3?", return_tensors="pt").input_ids
    with torch.no_grad():
        expected, got = with_adapter(ids).logits, merged(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()(ids).logits
    assert not torch.allclose(expected, base, atol=1e-4)  # the adapter changes the model...
    assert torch.allclose(expected, got, atol=1e-4)  # ...and the merged model is that change


def test_auto_dtype_on_a_cpu_keeps_a_float32_checkpoint_float32(tiny_model, tmp_path):  # noqa: F811
    _adapter(tiny_model, tmp_path / "saves" / "lora")
    _export_yaml(tmp_path, tiny_model)
    code, _, err = run_cli("export", "export.yaml", cwd=tmp_path)
    assert code == 0, err
    saved = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert saved.get("dtype", saved.get("torch_dtype")) == "float32"  # no fp16/bf16 on a CPU: LLaMA-Factory's rule


def test_a_broken_export_config_stops_before_a_model_loads(tiny_model, tmp_path):  # noqa: F811
    _adapter(tiny_model, tmp_path / "saves" / "lora")
    path = _export_yaml(tmp_path, tiny_model)
    path.write_text(path.read_text().replace("export_dir: merged\n", "export_dir: saves/lora\n"))
    code, out, err = run_cli("export", "export.yaml", "--format", "json", cwd=tmp_path)
    assert code == 1 and "not exporting" in err
    assert [d["code"] for d in json.loads(out)["diagnostics"] if d["severity"] == "error"] == ["RN054"]
    assert (tmp_path / "saves" / "lora" / "adapter_model.safetensors").exists()


def test_export_dir_holding_a_committed_link_is_refused(tiny_model, tmp_path):  # noqa: F811
    _adapter(tiny_model, tmp_path / "saves" / "lora")
    _export_yaml(tmp_path, tiny_model)
    (tmp_path / "merged").mkdir()
    (tmp_path / "outside.txt").write_text("keep me")
    (tmp_path / "merged" / "config.json").symlink_to(tmp_path / "outside.txt")
    code, out, err = run_cli("export", "export.yaml", cwd=tmp_path)
    assert code == 1 and "RN054" in out and (tmp_path / "outside.txt").read_text() == "keep me"


def test_dry_run_says_what_it_would_merge_and_loads_nothing(tiny_model, tmp_path):  # noqa: F811
    _export_yaml(tmp_path, tiny_model)
    (tmp_path / "saves" / "lora").mkdir(parents=True)
    (tmp_path / "saves" / "lora" / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    code, _, err = run_cli("export", "export.yaml", "--dry-run", cwd=tmp_path)
    assert code == 0, err
    assert "would merge saves/lora into" in err and "save to merged" in err and not (tmp_path / "merged").exists()
    code, _, err = run_cli("export", "export.yaml", "--dry-run", "--backend", "llamafactory", cwd=tmp_path)
    assert code == 0 and "would run: llamafactory-cli export export.yaml" in err
