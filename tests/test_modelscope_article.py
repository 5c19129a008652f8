"""The seed article's path under USE_MODELSCOPE_HUB=1 on a machine without network (issue 25, "Done means"): an
Excel sheet, the article's pandas script (every record wrapped in a list), register, fix, register, check, train a
tiny model taken from the ModelScope cache, and the adapter loaded by peft on that model.

No network: the hub probe is faked and answers nothing; the model lies only in a ModelScope-layout cache.
"""

import json
import os
import shutil

import pytest

from helpers import run_cli
from runner_helpers import tiny_model  # noqa: F401  (fixture)

pd = pytest.importorskip("pandas")
pytest.importorskip("openpyxl")
torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

MODEL = "Qwen/Qwen2.5-14B-Instruct"  # the article's model id; the cache holds a tiny model under that name
CACHED = ("models", "Qwen", "Qwen2___5-14B-Instruct")  # the modelscope SDK's layout, dots spelled ___


def _article_script(sheet, out):
    """What the article does: read the sheet with pandas, `c.append([{...}])` per row, json.dump."""
    frame = pd.read_excel(sheet)
    c = []
    for _, row in frame.iterrows():
        c.append([{"instruction": row["instruction"], "input": "", "output": row["output"]}])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(c, f, ensure_ascii=False, indent=2)


def test_the_article_path_offline_with_the_model_from_the_modelscope_cache(tiny_model, tmp_path, monkeypatch):
    from lfgate.runner import hub

    probed = []
    monkeypatch.setattr(hub, "_head", lambda url, timeout: probed.append(url) or "faked: no network")
    for name in ("USE_OPENMIND_HUB", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    folder = tmp_path.joinpath("ms", *CACHED)
    shutil.copytree(tiny_model, folder)

    project = tmp_path / "esg"
    (project / "data").mkdir(parents=True)
    rows = 24
    pd.DataFrame({"instruction": [f"抽取第{i}份ESG报告中的碳排放量" for i in range(rows)],
                  "output": [f"碳排放量：{i * 7}吨" for i in range(rows)]}).to_excel(project / "esg.xlsx", index=False)
    _article_script(project / "esg.xlsx", project / "data" / "esg.json")

    code, out, err = run_cli("register", "data/esg.json", cwd=project)
    assert code == 1 and "`lfgate fix`" in err, err  # a list around each record: fix first
    code, out, err = run_cli("fix", "data/esg.json", cwd=project)
    assert code == 0 and f"{rows} records kept, 0 removed" in out, out + err
    os.replace(project / "data" / "esg.fixed.json", project / "data" / "esg.json")
    code, out, err = run_cli("register", "data/esg.json", cwd=project)
    assert code == 0, err
    assert "esg" in json.loads((project / "data" / "dataset_info.json").read_text(encoding="utf-8"))

    (project / "train.yaml").write_text(
        f"model_name_or_path: {MODEL}\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 4\n"
        "lora_target: all\ndataset: esg\ndataset_dir: data\ntemplate: qwen\ncutoff_len: 128\n"
        "output_dir: saves/esg\nper_device_train_batch_size: 4\nlearning_rate: 1.0e-2\nmax_steps: 2\n"
        "logging_steps: 1\nsave_steps: 2\nreport_to: none\ndisable_gradient_checkpointing: true\nseed: 1\n",
        encoding="utf-8")
    code, out, err = run_cli("check", "train.yaml", cwd=project)
    assert code == 0, out + err
    code, out, err = run_cli("train", "train.yaml", cwd=project)
    assert code == 0, err
    assert f"model {MODEL} from the ModelScope cache ({tmp_path / 'ms'}): models/Qwen/Qwen2___5-14B-Instruct" in err
    assert probed == []  # everything came from the cache: the hub was never asked

    from transformers import AutoModelForCausalLM, AutoTokenizer

    output = project / "saves" / "esg"
    base = AutoModelForCausalLM.from_pretrained(folder)
    model = peft.PeftModel.from_pretrained(base, output).eval()
    tokenizer = AutoTokenizer.from_pretrained(output)
    # the saved tokenizer carries the template it was trained with (issue 25 §4): the reader prompts with it
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "抽取第1份ESG报告中的碳排放量"}],
                                           tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\n抽取第1份ESG报告中的碳排放量<|im_end|>\n<|im_start|>assistant\n")
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=2, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 2
