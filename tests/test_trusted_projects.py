"""Issue 16: trusted on real projects. Nothing named is skipped silently, LLaMA-Factory's accepted values pass,
severity follows what LLaMA-Factory does with this project, and each cause is reported once, at the cause."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import CORPUS, ROOT, write_project
from helpers import check_json, codes, find, run_cli

CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "template: qwen\noutput_dir: saves/q\nlogging_steps: 1\nsave_steps: 1\n")
ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
BROKEN_RANKING = {"file_name": "r.json", "ranking": True, "columns": {"prompt": "instruction"}}  # DI116


def errors(report):
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


# -- 1. nothing named is skipped silently -------------------------------------------------------------------------
def test_a_binary_yaml_named_on_the_command_line_is_an_error(tmp_path):
    (tmp_path / "train.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert code == 1 and [d["code"] for d in errors(report)] == ["TY001"]
    assert "not UTF-8" in errors(report)[0]["message"]


def test_a_named_yaml_that_is_no_config_gets_an_info(tmp_path):
    write_project(tmp_path, {"accelerate.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\n"})
    code, report = check_json("accelerate.yaml", cwd=tmp_path)
    [info] = report["diagnostics"]
    assert code == 0 and info["code"] == "TY009" and "named on the command line" in info["message"]


HYDRA = ("defaults:\n  - _self_\ndataset:\n  name: imdb\n  labels: [neg, pos]\ntrainer:\n  max_epochs: 3\n"
         "  accelerator: gpu\nmodel:\n  name: bert-base\nseed: 42\n")


def test_a_hydra_config_in_a_project_is_passed_over_with_one_info(tmp_path):
    write_project(tmp_path, {"conf/experiment.yaml": HYDRA, "train.yaml": CONFIG + "dataset: a\n",
                             "data/dataset_info.json": '{"a": {"file_name": "a.json"}}', "data/a.json": ALPACA})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and not {"TY101", "TY201", "TY301"} & codes(report)
    [info] = find(report, "TY009")
    assert "conf/experiment.yaml" in info["message"] and info["severity"] == "info"


def test_a_3mb_yaml_that_is_no_config_is_cheap_and_never_an_alias_bomb(tmp_path):
    lines = ["seed: 1", "trainer:"] + [f"  k{i}: [{i}, {i + 1}, \"value {i}\"]" for i in range(100_000)]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (tmp_path / "big.yaml").stat().st_size > 3_000_000
    for target in (".", "big.yaml"):
        started = time.monotonic()
        code, report = check_json(target, cwd=tmp_path)
        assert time.monotonic() - started < 5
        assert code == 0 and codes(report) == {"TY009"}


BOARD = ("top.booster: auto\ntop.checkpoint_path: null\ntop.finetuning_type: lora\n"
         "top.model_name: Qwen2.5-0.5B-Instruct\ntop.quantization_bit: none\ntop.quantization_method: bnb\n"
         "top.template: qwen\ntrain.batch_size: 2\ntrain.compute_type: fp16\ntrain.cutoff_len: 2048\n"
         "train.dataset:\n- alpaca_demo\n- missing_one\ntrain.dataset_dir: data\n"
         "train.extra_args: '{\"optim\": \"adamw_torch\"}'\ntrain.gradient_accumulation_steps: 8\n"
         "train.learning_rate: 5e-5\ntrain.lora_rank: 8\ntrain.lora_target: ''\ntrain.max_grad_norm: '1.0'\n"
         "train.max_samples: '100000'\ntrain.num_train_epochs: '3.0'\ntrain.output_dir: train_2024\n"
         "train.training_stage: Supervised Fine-Tuning\n")


def test_a_llamaboard_save_is_checked_as_the_web_ui_launches_it(tmp_path):
    write_project(tmp_path, {"llamaboard.yaml": BOARD, "data/dataset_info.json":
                             '{"alpaca_demo": {"file_name": "a.json"}}', "data/a.json": ALPACA})
    code, report = check_json("llamaboard.yaml", cwd=tmp_path)
    assert code == 1 and find(report, "TY008")
    [undefined] = find(report, "LK002")  # the web UI joins train.dataset with commas: missing_one is undefined
    assert "missing_one" in undefined["message"] and undefined["line"] == BOARD.splitlines().index(
        "train.dataset:") + 1
    assert not find(report, "TY201")  # '3.0', '1.0', '100000': the web UI converts them before launching


LFS = ("version https://git-lfs.github.com/spec/v1\n"
       "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1234567\n")


def test_a_git_lfs_pointer_as_data_is_its_own_finding(tmp_path):
    write_project(tmp_path, {"data/dataset_info.json": '{"a": {"file_name": "a.json"}, "p": {"file_name": '
                                                       '"p.parquet"}}', "data/a.json": LFS, "data/p.parquet": LFS})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and codes(report) == {"DF025"}
    assert all("git lfs pull" in d["message"] for d in find(report, "DF025"))
    (tmp_path / "data" / "dataset_info.json").write_text(LFS, encoding="utf-8")  # the registry itself
    (tmp_path / "train.yaml").write_text(CONFIG + "dataset: a\n", encoding="utf-8")
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and [d["file"] for d in report["diagnostics"]] == ["data/dataset_info.json"]
    assert codes(report) == {"DF025"}


# -- 2. what LLaMA-Factory accepts ------------------------------------------------------------------------------
def test_zero_and_one_for_a_boolean_key_are_an_info_and_quoted_false_stays_an_error(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("do_train: true", "do_train: 1") +
                             "do_eval: 0\nsave_only_model: 1\nbf16: \"false\"\n"})
    code, report = check_json("train.yaml", cwd=tmp_path)
    by_key = {d["message"].split("`")[1]: d["severity"] for d in find(report, "TY201")}
    assert by_key == {"do_train: 1": "info", "do_eval: 0": "info", "save_only_model: 1": "info", "bf16": "error"}


def test_an_absolute_file_name_is_not_warned_and_a_dotdot_escape_still_is(tmp_path):
    outside = tmp_path / "cluster" / "big.json"
    outside.parent.mkdir()
    outside.write_text(ALPACA, encoding="utf-8")
    (tmp_path / "p" / "up.json").parent.mkdir()
    (tmp_path / "p" / "up.json").write_text(ALPACA, encoding="utf-8")
    registry = {"abs": {"file_name": str(outside)}, "up": {"file_name": "../up.json"}}
    write_project(tmp_path / "p", {"data/dataset_info.json": json.dumps(registry)})
    _, report = check_json(".", cwd=tmp_path / "p")
    assert [d["dataset"] for d in find(report, "DF005")] == ["up"]


def test_use_megatron_bridge_is_known_where_the_target_has_it(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG + "use_megatron_bridge: false\n"})
    _, newest = check_json("train.yaml", "--llamafactory-version", "0.9.6", cwd=tmp_path)
    assert not {"TY101", "TY104"} & codes(newest)
    _, released = check_json("train.yaml", "--llamafactory-version", "0.9.5", cwd=tmp_path)
    [hit] = find(released, "TY104")
    assert "main branch (after 0.9.5, unreleased)" in hit["message"] and "0.9.6" not in hit["message"]


# -- 3. severity from what LLaMA-Factory does with this project ---------------------------------------------------
def _stock_project(tmp_path, dataset="a"):
    registry = {"a": {"file_name": "a.json"}, "nectar_rm": BROKEN_RANKING, "orca_dpo_de": BROKEN_RANKING}
    return write_project(tmp_path, {"train.yaml": CONFIG + f"dataset: {dataset}\n", "data/a.json": ALPACA,
                                    "data/r.json": ALPACA, "data/dataset_info.json": json.dumps(registry)})


def test_entries_no_config_loads_are_one_warning_per_rule(tmp_path):
    _stock_project(tmp_path)
    code, report = check_json(".", cwd=tmp_path)
    [summary] = find(report, "DI116")
    assert code == 0 and summary["severity"] == "warning"
    assert "`nectar_rm`" in summary["message"] and "`orca_dpo_de`" in summary["message"]
    assert "no checked config loads" in summary["message"]


def test_a_registry_named_alone_keeps_its_errors(tmp_path):
    _stock_project(tmp_path)
    code, report = check_json("data/dataset_info.json", cwd=tmp_path)
    assert code == 1 and [d["severity"] for d in find(report, "DI116")] == ["error", "error"]


def test_a_config_that_loads_the_entry_makes_it_an_error_and_is_named(tmp_path):
    _stock_project(tmp_path, dataset="nectar_rm")
    code, report = check_json(".", cwd=tmp_path)
    by_dataset = {d["dataset"]: d for d in find(report, "DI116")}
    assert by_dataset["nectar_rm"]["severity"] == "error" and "loaded by train.yaml" in \
        by_dataset["nectar_rm"]["message"]
    assert by_dataset["orca_dpo_de"]["severity"] == "warning"


def test_placeholders_without_media_are_an_error_under_a_multimodal_template(tmp_path):
    data = '[{"instruction": "<image>What is this?", "input": "", "output": "A cat."}]\n'
    files = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}}', "data/a.json": data}
    write_project(tmp_path, {**files, "train.yaml": CONFIG.replace("template: qwen", "template: qwen2_vl")
                             .replace("Qwen2.5-0.5B-Instruct", "Qwen2-VL-2B-Instruct") + "dataset: a\n"})
    _, report = check_json(".", cwd=tmp_path)
    [hit] = find(report, "DS503")
    assert hit["severity"] == "error" and "The number of images does not match" in hit["message"]
    (tmp_path / "train.yaml").write_text(CONFIG + "dataset: a\n", encoding="utf-8")
    _, report = check_json(".", cwd=tmp_path)
    assert [d["severity"] for d in find(report, "DS503")] == ["warning"]


def test_without_a_config_the_samples_are_judged_as_sft_and_it_is_said(tmp_path):
    # no response column, but a query one: instruction data missing its answer, not a text corpus
    registry = {"a": {"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input"}}}
    data = json.dumps([{"instruction": "", "input": "", "output": "x"}] * 3)
    write_project(tmp_path, {"data/dataset_info.json": json.dumps(registry), "data/a.json": data})
    _, report = check_json(".", cwd=tmp_path)
    assert not any("pretraining" in d["message"] for d in report["diagnostics"])
    assert any("judged as sft, LLaMA-Factory's default" in d["message"] for d in report["diagnostics"])


def test_a_misspelt_quantization_method_is_an_error_saying_no_quantization(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG + "quantization_bit: 4\nquantization_method: bitsandbytes\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    [hit] = find(report, "TY220")
    assert hit["severity"] == "error" and "no quantization at all" in hit["message"] and "bnb" in hit["message"]
    assert not find(report, "TY202")  # one finding for the cause
    (tmp_path / "train.yaml").write_text(CONFIG + "quantization_bit: 4\nquantization_method: bnb\n")
    assert "TY220" not in codes(check_json("train.yaml", cwd=tmp_path)[1])


def test_lora_keys_with_full_fine_tuning_warn_what_it_means(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("finetuning_type: lora", "finetuning_type: full")
                             + "lora_rank: 16\nlora_target: all\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    [hit] = find(report, "TY221")
    assert hit["severity"] == "warning" and "every weight" in hit["message"] and "`lora_rank`" in hit["message"]


CHINESE = [{"instruction": "请解释机器学习", "input": "", "output": "机器学习是人工智能的一个分支。" * 40}] * 4


def test_long_chinese_answers_are_seen_and_every_sample_cut_is_a_warning(tmp_path):
    # 600 Han characters: 100 tokens at 6 characters per token, about 400-600 with Qwen's tokenizer
    write_project(tmp_path, {"data/dataset_info.json": '{"zh": {"file_name": "zh.json"}}',
                             "data/zh.json": json.dumps(CHINESE, ensure_ascii=False),
                             "train.yaml": CONFIG + "dataset: zh\ncutoff_len: 256\n"})
    _, report = check_json(".", cwd=tmp_path)
    [linked] = find(report, "LK050")  # the config's finding; the dataset's own estimate (DS012) is not repeated
    assert linked["severity"] == "warning" and "4 of 4" in linked["message"] and not find(report, "DS012")
    _, alone = check_json("data/dataset_info.json", cwd=tmp_path)  # no config: LLaMA-Factory's default, 2048
    assert not find(alone, "DS012")  # each sample is about 410 tokens: within 2048
    code, out, err = run_cli("stats", "train.yaml", "--format", "json", cwd=tmp_path)
    [stats] = json.loads(out)["datasets"]
    assert code == 0 and stats["unit"] == "tokens" and stats["over_cutoff"] == 4  # check and stats agree


def test_the_estimate_goes_by_make_up_and_family():
    from lfgate.tokens.estimate import estimate
    from lfgate.tokens.families import FAMILIES

    qwen, llama = FAMILIES["qwen2"], FAMILIES["llama3"]
    assert 60 <= estimate("98000万吨，同比增长12.5%。" * 5, qwen) <= 80  # Qwen: 70, one token per digit
    assert estimate("98000" * 10, llama) < estimate("98000" * 10, qwen)  # Llama 3 takes digits three at a time
    assert 9 <= estimate("The quick brown fox jumps over the lazy dog.", qwen) <= 12
    assert estimate("", qwen) == 0


# -- 4. one finding per cause, at the cause -------------------------------------------------------------------------
def test_a_dataset_used_by_two_configs_is_reported_once_naming_both(tmp_path):
    bad = '[{"instruction": "hi", "input": "", "output": null}]\n'
    write_project(tmp_path, {"a.yaml": CONFIG + "dataset: d\n", "b.yaml": CONFIG + "dataset: d\n",
                             "data/dataset_info.json": '{"d": {"file_name": "d.json"}}', "data/d.json": bad})
    for fmt, mark in (("json", '"DS104"'), ("junit", '<testcase name="DS104'), ("github", "DS104")):
        code, out, _ = run_cli("check", "--format", fmt, ".", cwd=tmp_path)
        assert code == 1 and out.count(mark) == 1, fmt
    code, out, _ = run_cli("check", "--format", "sarif", ".", cwd=tmp_path)
    results = json.loads(out)["runs"][0]["results"]
    assert [r["ruleId"] for r in results].count("DS104") == 1
    _, report = check_json(".", cwd=tmp_path)
    [hit] = find(report, "DS104")
    assert "a.yaml" in hit["message"] and "b.yaml" in hit["message"]
    assert report["summary"]["samples"] == 1 and report["summary"]["files"] == 4  # 2 configs, registry, data
    assert sorted(d["code"] for d in errors(report)) == ["DS003", "DS104"]  # dropped, so no valid sample: once each


def test_a_misspelt_registry_key_is_the_error_and_its_consequences_fold_under_it(tmp_path):
    data = '[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]\n'
    write_project(tmp_path, {"train.yaml": CONFIG + "dataset: a\n", "data/a.json": data,
                             "data/dataset_info.json": '{"a": {"file_name": "a.json", "formating": "sharegpt"}}'})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and [d["code"] for d in errors(report)] == ["DI140"]
    assert "Did you mean `formatting`" in errors(report)[0]["message"] and "folded" in errors(report)[0]["message"]
    assert "1 sample affected" in errors(report)[0]["message"] and report["summary"]["errors"] == 1


def test_columns_naming_no_prompt_and_no_response_is_one_error_on_the_entry(tmp_path):
    registry = {"c": {"file_name": "c.json", "columns": {"instruction": "instruction", "input": "input",
                                                         "output": "output"}}}
    write_project(tmp_path, {"train.yaml": CONFIG + "dataset: c\n", "data/c.json": ALPACA,
                             "data/dataset_info.json": json.dumps(registry)})
    code, report = check_json(".", cwd=tmp_path)
    [hit] = errors(report)
    assert code == 1 and hit["code"] == "DI103" and hit["file"] == "data/dataset_info.json"
    assert '"prompt": "instruction"' in hit["message"] and '"response": "output"' in hit["message"]
    assert not find(report, "DS013") and not find(report, "DI122")


def test_a_misspelt_record_field_gets_a_did_you_mean(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG + "dataset: d\n", "data/dataset_info.json": '{"d": {"file_name": '
                             '"d.json"}}', "data/d.json": '[{"instruction": "hi", "input": "", "ouput": "yo"}]\n'})
    _, report = check_json(".", cwd=tmp_path)
    [hit] = find(report, "DS104")
    assert "did you mean `output`" in hit["message"]
    (tmp_path / "data" / "d.json").write_text('[{"instrution": "hi", "input": "", "output": "yo"}]\n')
    _, report = check_json(".", cwd=tmp_path)
    assert any("did you mean 'instruction'" in d["message"] for d in find(report, "DS002"))


@pytest.mark.parametrize("key, release, instead", [
    ("visual_inputs", "0.9.0", "multimodal `template`"),
    ("train_mm_proj_only", "0.9.2", "freeze_vision_tower"),
])
def test_keys_removed_over_llamafactorys_history_name_the_release_and_replacement(tmp_path, key, release, instead):
    write_project(tmp_path, {"train.yaml": CONFIG + f"{key}: true\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    [hit] = find(report, "TY109")
    assert f"removed in LLaMA-Factory {release}" in hit["message"] and instead in hit["message"]


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_removed_keys_table_is_generated_from_release_tags(tmp_path):
    repo = tmp_path / "lf"
    hparams = repo / "src" / "llamafactory" / "hparams"
    hparams.mkdir(parents=True)
    _git(repo, "init", "-q")
    versions = {"v0.8.3": "    visual_inputs: bool = field(default=False)\n    keep: int = 1\n",
                "v0.9.0": "    keep: int = 1\n    derived: int = field(default=0, init=False)\n",
                "v0.9.1": "    keep: int = 1\n"}
    for tag, body in versions.items():
        (hparams / "model_args.py").write_text(f"class ModelArguments:\n{body}", encoding="utf-8")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", tag)
        _git(repo, "tag", tag)
    out = tmp_path / "removed.json"
    script = ROOT / "scripts" / "gen_removed_keys.py"
    done = subprocess.run([sys.executable, str(script), str(repo), "--out", str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    table = json.loads(out.read_text(encoding="utf-8"))["keys"]
    assert table["visual_inputs"]["removed_in"] == "0.9.0" and table["visual_inputs"]["last"] == "0.8.3"
    assert "derived" not in table and "keep" not in table  # a field the parser derives is not a removed key


MIRROR = os.environ.get("LFGATE_LF_MIRROR", "")  # a git directory of LLaMA-Factory (set it to run this check)


@pytest.mark.skipif(not os.path.isdir(MIRROR), reason="no LLaMA-Factory git directory on this machine")
def test_the_committed_removed_keys_table_is_what_the_script_generates():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_removed_keys.py"), MIRROR, "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, "lfgate/schemas/removed_keys.json is stale: run scripts/gen_removed_keys.py"


# -- LLaMA-Factory's own data/ + examples/ ----------------------------------------------------------------------------
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/llamafactory is not available")
def test_llamafactorys_own_project_errs_only_where_llamafactory_fails(tmp_path, monkeypatch):
    from lfgate.validator import stock
    from lfgate.validator.training import keys

    monkeypatch.setattr(keys, "_installed_transformers", lambda: None)  # judged for transformers 5
    monkeypatch.setattr(stock, "release_of", lambda path: None)  # LLaMA-Factory's own tree, judged as its own
    monkeypatch.setattr(stock, "is_stock_entry", lambda name, value: False)
    shutil.copytree(CORPUS, tmp_path / "lf")
    _, report = check_json(".", "--llamafactory-version", "0.9.6", cwd=tmp_path / "lf")
    found = sorted((d["file"], d["code"]) for d in errors(report))
    assert found == [("examples/extras/asft/llama2_full_asft.yaml", "LK002"),
                     ("examples/extras/asft/qwen2_full_asft.yaml", "LK002"),
                     ("examples/extras/fp8/llama3_fp8_fsdp_sft.yaml", "TY102")], found
    [stock] = find(report, "DI116")  # nectar_rm and orca_dpo_de: no example loads them
    assert stock["severity"] == "warning" and "nectar_rm" in stock["message"]
    repeated = [(d["code"], d["message"], d["file"], d["line"], d["sample"]) for d in report["diagnostics"]]
    assert len(repeated) == len(set(repeated))


# -- classes the real-world corpus showed ---------------------------------------------------------------------------
def test_an_eval_config_is_read_as_llamafactory_cli_eval(tmp_path):
    write_project(tmp_path, {"eval.yaml": "model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\n"
                                          "adapter_name_or_path: saves/llama3-8b/lora/sft\nfinetuning_type: lora\n"
                                          "task: mmlu_test\ntemplate: fewshot\nlang: en\nn_shot: 5\n"
                                          "save_dir: saves/llama3-8b/lora/eval\nbatch_size: 4\n"})
    code, report = check_json("eval.yaml", "--llamafactory-version", "0.9.5", cwd=tmp_path)
    # no TY108: these keys are eval's own; only what 0.9.5 does with `eval` (and TY420: the adapter is not there)
    [hit] = [d for d in report["diagnostics"] if d["code"] != "TY420"]
    assert code == 0 and hit["code"] == "TY007" and hit["severity"] == "warning"
    assert "Evaluation will be deprecated" in hit["message"]
    _, old = check_json("eval.yaml", "--llamafactory-version", "0.9.3", cwd=tmp_path)
    assert [d["severity"] for d in old["diagnostics"] if d["code"] != "TY420"] == ["info"]


def test_a_dataset_info_json_that_is_no_registry_is_passed_over(tmp_path):
    meta = '{"split": "test", "directed": false, "files": {"edges_test.jsonl": 350}, "number_of_graphs": 350}\n'
    write_project(tmp_path, {"data/dataset_info.json": meta})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and codes(report) == {"DI006"}
    code, named = check_json("data/dataset_info.json", cwd=tmp_path)  # named: checked as a registry
    assert code == 1 and "DI006" not in codes(named)


def test_a_comment_string_in_the_registry_follows_the_entry_severity(tmp_path):
    registry = '{"_comment": "entries below are ours", "a": {"file_name": "a.json"}}\n'
    write_project(tmp_path, {"data/dataset_info.json": registry, "data/a.json": ALPACA,
                             "train.yaml": CONFIG + "dataset: a\n"})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and [d["severity"] for d in find(report, "DI003")] == ["warning"]
