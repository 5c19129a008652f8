"""Issue 25's end-to-end test: the seed article's path as its readers walk it, with the article's own script.

An Excel sheet made with pandas, the article's loop that wraps every record in a list, `register` (pointed at
`fix`), `check` (DF015 on every record), `fix`, `register` of the fixed copy, `check` clean, `train` of a tiny model
on CPU, then the output used as the article's readers use it: peft loads the adapter from another folder and
`apply_chat_template` of the saved tokenizer renders the prompt the runner trained on. The same under
`USE_MODELSCOPE_HUB=1`, with the model in a ModelScope-layout cache and no network.
"""

import json
import shutil

import pytest

from helpers import check_json, run_cli
from runner_helpers import one_thread, tiny_model  # noqa: F401  (fixtures)

pd = pytest.importorskip("pandas")
pytest.importorskip("openpyxl")
pytest.importorskip("peft")

ROWS = 12
TRAIN_YAML = ("model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_target: all\n"
              "dataset: esg\ndataset_dir: data\ntemplate: qwen\ncutoff_len: 2048\noutput_dir: saves/qwen-lora\n"
              "per_device_train_batch_size: 4\ngradient_accumulation_steps: 1\nlearning_rate: 1.0e-3\n"
              "num_train_epochs: 1.0\nlogging_steps: 1\nreport_to: none\ndisable_gradient_checkpointing: true\n")


pytestmark = pytest.mark.usefixtures("one_thread")


def _the_article_script(root):
    """The sheet, then the article's loop: `c.append([{...}])` writes every record inside a one-element list."""
    sheet = pd.DataFrame({"instruction": [f"抽取第{i}份ESG报告中的排放指标" for i in range(ROWS)],
                          "input": [f"报告：2023年排放量{98000 + i}万吨，同比增长12.5%" for i in range(ROWS)],
                          "output": [f"排放量：{98000 + i}万吨\n增长率：12.5%" for i in range(ROWS)]})
    sheet.to_excel(root / "esg.xlsx", index=False)
    frame = pd.read_excel(root / "esg.xlsx").fillna("")
    c = []
    for _, row in frame.iterrows():
        c.append([{"instruction": row["instruction"], "input": row["input"], "output": row["output"]}])
    (root / "data").mkdir()
    with open(root / "data" / "esg.json", "w", encoding="utf-8") as f:
        json.dump(c, f, ensure_ascii=False, indent=2)


def _walk(root, model):
    _the_article_script(root)
    code, _, err = run_cli("register", "data/esg.json", cwd=root)
    assert code == 1 and "`lfgate fix`" in err  # refused, pointed at the repair
    code, report = check_json("data/esg.json", cwd=root)
    assert code == 1 and {d["code"] for d in report["diagnostics"] if d["severity"] == "error"} == {"DF015"}
    code, out, err = run_cli("fix", "data/esg.json", cwd=root)
    assert code == 0 and f"{ROWS} records kept, 0 removed" in out, out + err
    code, out, err = run_cli("register", "data/esg.fixed.json", "--name", "esg", cwd=root)
    assert code == 0, out + err
    (root / "train.yaml").write_text(TRAIN_YAML.format(model=model), encoding="utf-8")
    code, report = check_json(".", cwd=root)
    assert code == 0 and not [d for d in report["diagnostics"] if d["severity"] == "error"], report
    code, out, err = run_cli("train", "train.yaml", cwd=root)
    assert code == 0, out + err
    return root / "saves" / "qwen-lora"


def _use_the_output(output, model, elsewhere):
    """What the reader does next: the adapter from another folder, on the base model, prompted by the saved
    tokenizer's chat template."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    moved = shutil.copytree(output, elsewhere)
    tokenizer = AutoTokenizer.from_pretrained(moved)
    messages = [{"role": "user", "content": "抽取第0份ESG报告中的排放指标\n报告：2023年排放量98000万吨，同比增长12.5%"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                      "<|im_end|>\n<|im_start|>user\n" + messages[0]["content"] + "<|im_end|>\n"
                      "<|im_start|>assistant\n")
    base = AutoModelForCausalLM.from_pretrained(model)
    tuned = PeftModel.from_pretrained(base, str(moved))
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        generated = tuned.generate(ids, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > ids.shape[1]


@pytest.mark.slow
def test_the_seed_path_from_a_pandas_sheet_to_an_adapter_in_use(tiny_model, tmp_path):
    (tmp_path / "project").mkdir()
    output = _walk(tmp_path / "project", tiny_model)
    _use_the_output(output, tiny_model, tmp_path / "elsewhere")
