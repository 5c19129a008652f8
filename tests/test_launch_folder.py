"""Issue 20 §1: relative paths resolve from the folder llamafactory-cli is launched from, inferred per config."""

import json

import pytest

from conftest import write_project
from helpers import check_json, codes, find

CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "template: qwen\noutput_dir: saves/q\nlogging_steps: 1\nsave_steps: 1\n")
ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
DS = '{"zero_optimization": {"stage": 2}}\n'


def nested(tmp_path, extra=None, checkout="LLaMA-Factory"):
    """A repository that keeps a LLaMA-Factory checkout in a subfolder and its own configs beside it."""
    files = {f"{checkout}/data/dataset_info.json": '{"mine": {"file_name": "mine.json"}}',
             f"{checkout}/data/mine.json": ALPACA, f"{checkout}/examples/deepspeed/ds_z2_config.json": DS,
             "configs/sft.yaml": CONFIG + "dataset: mine\ndeepspeed: examples/deepspeed/ds_z2_config.json\n",
             "configs/typo.yaml": CONFIG + "dataset: mnie\n"}
    files.update(extra or {})
    return write_project(tmp_path, files)


def errors(report):
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


SCRIPT = "#!/bin/bash\ncd \"$(dirname \"$0\")/../LLaMA-Factory\"\nFORCE_TORCHRUN=1 llamafactory-cli train " \
         "../configs/sft.yaml\nllamafactory-cli train ../configs/typo.yaml\n"


@pytest.mark.parametrize("target", [".", "configs/sft.yaml"])
def test_a_script_that_cds_into_the_checkout_sets_the_launch_folder(tmp_path, target):
    nested(tmp_path, {"scripts/train.sh": SCRIPT})
    code, report = check_json(target, "configs/typo.yaml", cwd=tmp_path)  # named and found: checked once
    assert not {"LK001", "TY212"} & codes(report), report["diagnostics"]
    [typo] = errors(report)  # the real finding behind the false LK001: a misspelt dataset name
    assert typo["code"] == "LK002" and "mnie" in typo["message"] and "launch folder LLaMA-Factory/" in typo["message"]
    assert code == 1
    [info] = find(report, "TY010")
    assert "scripts/train.sh:3" in info["message"] and "configs/sft.yaml" in info["message"]


def test_a_readme_code_block_sets_the_launch_folder(tmp_path):
    readme = ("# Train\n```bash\ngit clone https://github.com/hiyouga/LLaMA-Factory.git\ncd LLaMA-Factory\n"
              "pip install -e .\n```\nThen\n```bash\nllamafactory-cli train ../configs/sft.yaml\n```\n")
    nested(tmp_path, {"README.md": readme})
    _, report = check_json("configs/sft.yaml", cwd=tmp_path)
    assert not errors(report), report["diagnostics"]
    assert "README.md:9" in find(report, "TY010")[0]["message"]


def test_without_launch_commands_the_checkout_holding_the_config_is_the_launch_folder(tmp_path):
    nested(tmp_path, {"LLaMA-Factory/examples/train_lora/q.yaml": CONFIG + "dataset: mine\n"
                      "deepspeed: examples/deepspeed/ds_z2_config.json\n"})
    _, report = check_json(".", cwd=tmp_path)
    assert not find(report, "TY212")
    assert "inside the LLaMA-Factory checkout LLaMA-Factory/" in find(report, "TY010")[0]["message"]
    # configs/sft.yaml's deepspeed path and dataset lead into the checkout; configs/typo.yaml names a dataset no
    # registry defines and nothing launches it: its dataset_dir `data` is not at the root, a real LK001
    assert "resolve from the LLaMA-Factory checkout" in find(report, "TY010")[0]["message"]
    assert {d["file"] for d in find(report, "LK001")} == {"configs/typo.yaml"}


def test_paths_that_lead_into_a_checkout_choose_it(tmp_path):
    nested(tmp_path, {"configs/sft.yaml": CONFIG + "dataset: mine\ndataset_dir: ../LLaMA-Factory/data\n"
                      "deepspeed: examples/deepspeed/ds_z2_config.json\n"})
    _, report = check_json("configs/sft.yaml", cwd=tmp_path)
    assert not errors(report), report["diagnostics"]
    assert "resolve from the LLaMA-Factory checkout" in find(report, "TY010")[0]["message"]


def test_datasets_the_checkouts_registry_defines_choose_it(tmp_path):
    nested(tmp_path, {"configs/plain.yaml": CONFIG + "dataset: mine\n"})
    _, report = check_json("configs/plain.yaml", cwd=tmp_path)
    assert not errors(report), report["diagnostics"]
    # a second checkout that defines it too: no single choice, the folder checked stays (and LK001 is real)
    write_project(tmp_path, {"other/LLaMA-Factory/data/dataset_info.json": '{"mine": {"file_name": "mine.json"}}',
                             "other/LLaMA-Factory/examples/x.yaml": CONFIG + "dataset: mine\n"})
    _, report = check_json(".", cwd=tmp_path)
    assert "configs/plain.yaml" in {d["file"] for d in find(report, "LK001")}


def test_launch_dir_overrides_the_inference_and_a_missing_path_names_every_folder_tried(tmp_path):
    nested(tmp_path, {"scripts/train.sh": SCRIPT})
    _, report = check_json("--launch-dir", ".", "configs/sft.yaml", cwd=tmp_path)
    assert {"LK001", "TY212"} <= codes(report)
    (tmp_path / "configs" / "miss.yaml").write_text(CONFIG + "dataset: mine\ndeepspeed: nowhere/ds.json\n")
    (tmp_path / "scripts" / "train.sh").write_text("cd LLaMA-Factory && llamafactory-cli train ../configs/miss.yaml\n")
    _, report = check_json("configs/miss.yaml", cwd=tmp_path)
    [missing] = find(report, "TY212")
    # both folders tried, named relative to the project (issue 21: no machine paths in reports)
    assert "looked at LLaMA-Factory/nowhere/ds.json and nowhere/ds.json" in missing["message"]
    assert "launch folder LLaMA-Factory/" in missing["message"]


def test_launch_dir_in_pyproject(tmp_path):
    nested(tmp_path, {"pyproject.toml": "[tool.lfgate]\nlaunch-dir = \"LLaMA-Factory\"\n"})
    _, report = check_json("configs/sft.yaml", cwd=tmp_path)
    assert not errors(report), report["diagnostics"]
    assert "launch-dir in" in find(report, "TY010")[0]["message"]


def test_a_cd_relative_to_the_scripts_own_folder(tmp_path):
    write_project(tmp_path, {
        "llama_factory/data/dataset_info.json": '{"mine": {"file_name": "mine.json"}}',
        "llama_factory/data/mine.json": ALPACA,
        "llama_factory/experiments/sft.yaml": CONFIG + "dataset: mine\n",
        "llama_factory/experiments/run.sh": "export CUDA_VISIBLE_DEVICES=1\ncd ..\n\n"
                                            "llamafactory-cli train experiments/sft.yaml\n"})
    _, report = check_json(".", cwd=tmp_path)
    assert not errors(report), report["diagnostics"]
    assert "llama_factory/experiments/run.sh:4" in find(report, "TY010")[0]["message"]


def test_an_envsubst_template_is_said_once_and_its_placeholder_paths_are_not_judged(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("saves/q", "${OUT}/q") + "dataset: mine\n"
                             "dataset_dir: ${SCRIPT_DIR}/data\ndeepspeed: $SCRIPT_DIR/ds.json\n"})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert code == 0 and not {"LK001", "TY212"} & codes(report), report["diagnostics"]
    [template] = find(report, "TY014")
    assert "${SCRIPT_DIR}" in template["message"] and "${OUT}" in template["message"]


def test_an_omegaconf_node_interpolation_is_no_template(tmp_path):
    # `${base}` names a key of the config: no renderer is implied, and OmegaConf passes the text on unresolved
    write_project(tmp_path, {"train.yaml": CONFIG + "dataset: mine\nbase: x\ndataset_dir: ${base}/data\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert not find(report, "TY014") and find(report, "LK001")


def test_a_vendored_checkouts_release_arguments_and_templates_are_the_target(tmp_path):
    json_config = json.dumps({"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft", "do_train": True,
                              "finetuning_type": "lora", "template": "my_tpl", "my_flag": True, "dataset": "mine",
                              "output_dir": "saves/q", "visual_inputs": False})
    nested(tmp_path, {
        "LLaMA-Factory/src/llamafactory/extras/env.py": 'VERSION = "0.8.3"\n',
        "LLaMA-Factory/src/llamafactory/hparams/my_args.py":
            "@dataclass\nclass MyArguments:\n    my_flag: bool = field(\n        default=False,\n    )\n"
            "    derived: int = field(default=0, init=False)\n",
        "LLaMA-Factory/src/llamafactory/data/template.py": 'register_template(\n    name="my_tpl",\n)\n',
        "LLaMA-Factory/examples/mine.json": json_config,
        "LLaMA-Factory/examples/derived.yaml": CONFIG + "dataset: mine\nderived: 1\n"})
    _, report = check_json("LLaMA-Factory/examples", "--llamafactory-version", "0.9.5", cwd=tmp_path)
    assert {"TY013", "TY101", "TY109", "TY203"} <= codes(report)  # 0.9.5 chosen: none of the fork's own
    code, report = check_json("LLaMA-Factory/examples", cwd=tmp_path)
    # 0.8.3 reads JSON configs, knew visual_inputs, and the fork declares my_flag and my_tpl; `derived` is init=False
    assert not {"TY013", "TY109", "TY203"} & codes(report), report["diagnostics"]
    assert [d["file"] for d in find(report, "TY101")] == ["LLaMA-Factory/examples/derived.yaml"]
    assert "0.8.3" in find(report, "TY010")[0]["message"]


def test_a_cd_into_a_folder_the_instructions_clone_is_passed_over(tmp_path):
    # `git clone .../proj && cd proj`: the folder checked is that clone; the launch is from it
    write_project(tmp_path, {"data/dataset_info.json": '{"mine": {"file_name": "mine.json"}}', "data/mine.json": ALPACA,
                             "sft.yaml": CONFIG + "dataset: mine\n",
                             "README.md": "```\ngit clone https://x/proj\ncd proj\nllamafactory-cli train sft.yaml\n```\n"})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and not find(report, "TY010")
