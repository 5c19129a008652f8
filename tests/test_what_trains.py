"""Issue 22: what LLaMA-Factory will really train. Each rule under the package versions it depends on, faked
(lf_stack.use); tests/test_what_trains_vs_llamafactory.py checks the same facts against LLaMA-Factory itself."""

import json
import os

import pytest

from conftest import write_project
from helpers import check_json, codes, find, run_cli
from lfgate import lf_stack
from lfgate.validator import model_families, multinode

BASE = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
        "template: qwen\noutput_dir: out\ndataset: a\n")
FILES = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
         "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'}
FRESH = lf_stack.fresh_install("0.9.5")


@pytest.fixture
def stack():
    """stack(**versions): judge with the fresh 0.9.5 install's versions, these replaced."""
    def make(**versions):
        lf_stack.use(lf_stack.Stack({**FRESH, **{k.replace("_", "-"): v for k, v in versions.items()}}, "(faked)"))
    yield make
    lf_stack.use(None)


def _report(tmp_path, yaml, files=None, *args):
    write_project(tmp_path, {"train.yaml": yaml, **FILES, **(files or {})})
    _, report = check_json("train.yaml", *args, cwd=tmp_path)
    return report


def _dpo(loss):
    return BASE.replace("stage: sft", "stage: dpo") + f"pref_loss: {loss}\n"


# -- the stack -------------------------------------------------------------------------------------------------
def test_a_fresh_install_of_0_9_5_gets_the_top_of_each_range():
    assert FRESH["trl"] == "0.24.0" and FRESH["transformers"] == "5.6.0" and FRESH["llamafactory"] == "0.9.5"
    assert FRESH["flash-attn"] is None and FRESH["liger-kernel"] is None


def test_lfgate_stack_variable_sets_versions_on_top(monkeypatch):
    monkeypatch.setenv("LFGATE_STACK", "trl=0.19.1,flash-attn=")
    found = lf_stack.stack()
    assert found.version("trl") == "0.19.1" and not found.has("flash-attn") and "LFGATE_STACK" in found.source


# -- 1. preference losses by TRL --------------------------------------------------------------------------------
@pytest.mark.parametrize("trl, loss, expected", [
    ("0.24.0", "hinge", "TY440"), ("0.20.0", "ipo", "TY440"), ("0.22.2", "kto_pair", "TY440"),
    ("0.19.1", "hinge", None), ("0.18.0", "ipo", None), ("0.19.1", "kto_pair", "TY441"), ("0.18.2", "kto_pair", "TY441"),
    ("0.24.0", "sigmoid", None), ("0.24.0", "orpo", None), ("0.24.0", "simpo", None),
])
def test_pref_loss_by_trl_release(trl, loss, expected, stack, tmp_path):
    stack(trl=trl)
    found = codes(_report(tmp_path, _dpo(loss))) & {"TY440", "TY441"}
    assert found == ({expected} if expected else set())


def test_ipo_says_the_log_probs_are_still_length_averaged(stack, tmp_path):
    stack(trl="0.24.0")
    [hit] = find(_report(tmp_path, _dpo("ipo")), "TY440")
    assert "neither DPO nor IPO" in hit["message"] and "trl 0.24.0" in hit["message"]


def test_an_unknown_pref_loss_says_what_trains_and_drops_the_kto_pair_hint(stack, tmp_path):
    stack(trl="0.24.0")
    [hit] = find(_report(tmp_path, _dpo("kto-pair")), "TY202")
    assert "sigmoid" in hit["message"] and "Did you mean" not in hit["message"] and hit["severity"] == "warning"
    stack(trl="0.19.1")
    [hit] = find(_report(tmp_path, _dpo("kto-pair")), "TY202")
    assert "Unknown loss type" in hit["message"] and hit["severity"] == "error"


@pytest.mark.parametrize("trl, fails", [("0.24.0", True), ("0.18.0", True), ("0.9.6", False), ("0.8.6", False)])
def test_ppo_needs_trl_0_9(trl, fails, stack, tmp_path):
    stack(trl=trl)
    report = _report(tmp_path, BASE.replace("stage: sft", "stage: ppo") + "reward_model: saves/rm\n")
    assert ("TY442" in codes(report)) == fails


def test_pref_loss_outside_dpo_is_ignored(tmp_path):
    assert "TY443" in codes(_report(tmp_path, BASE.replace("stage: sft", "stage: kto") + "pref_loss: hinge\n"))
    assert "TY443" not in codes(_report(tmp_path, BASE.replace("stage: sft", "stage: kto")))


# -- 3. model families from hub ids ------------------------------------------------------------------------------
@pytest.mark.parametrize("model, targets, severity", [
    ("Qwen/Qwen2.5-7B-Instruct", "c_attn", "error"),
    ("Qwen/Qwen2-7B", "query_key_value", "error"),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "query_key_value", "error"),
    ("microsoft/Phi-3-mini-4k-instruct", "q_proj,v_proj", "error"),  # Phi-3 has qkv_proj
    ("openai-community/gpt2", "q_proj", "error"),
    ("Qwen/Qwen2.5-7B-Instruct", "q_proj,c_attn", "warning"),  # PEFT drops c_attn in silence
    ("Qwen/Qwen2.5-7B-Instruct", "q_proj,v_proj", None),
    ("microsoft/Phi-3-mini-4k-instruct", "qkv_proj", None),
    ("openai-community/gpt2", "c_attn", None),
    ("Qwen/Qwen2.5-7B-Instruct", "all", None),
    ("Qwen/Qwen2.5-7B-Instruct", ".*proj", None),  # a pattern: not judged
    ("zai-org/chatglm3-6b", "q_proj", None),  # remote code, no architecture known: nothing said
    ("someone/unknown-model", "c_attn", None),
])
def test_lora_target_against_the_hub_ids_family(model, targets, severity, tmp_path):
    hits = find(_report(tmp_path, BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", model) + f"lora_target: {targets}\n"),
                "LK030")
    assert [h["severity"] for h in hits] == ([severity] if severity else [])


def test_composite_models_match_by_substring(tmp_path):
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2-VL-7B-Instruct").replace("template: qwen",
                                                                                            "template: qwen2_vl")
    assert not find(_report(tmp_path, yaml + "lora_target: proj\n"), "LK030")  # `proj` in `q_proj`: found
    assert find(_report(tmp_path, yaml + "lora_target: c_attn\n"), "LK030")


@pytest.mark.parametrize("transformers, hit", [("4.57.6", False), ("4.55.0", False), ("5.6.0", True)])
def test_module_names_follow_the_installed_transformers(transformers, hit, stack, tmp_path):
    """transformers 5 fuses the MoE experts: Mixtral's w1/w2/w3 modules exist only in 4.x."""
    stack(transformers=transformers)
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "mistralai/Mixtral-8x7B-v0.1").replace("template: qwen",
                                                                                              "template: mistral")
    assert bool(find(_report(tmp_path, yaml + "lora_target: w1,w2,w3\n"), "LK030")) == hit


def test_a_local_folder_uses_the_generated_table(tmp_path):
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "m")
    files = {"m/config.json": '{"model_type": "falcon"}'}
    assert find(_report(tmp_path, yaml + "lora_target: q_proj\n", files), "LK030")
    assert not find(_report(tmp_path, yaml + "lora_target: query_key_value\n", files), "LK030")


@pytest.mark.parametrize("model, template, hit", [
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2_vl", True),  # a text model: no processor
    ("OpenGVLab/InternVL3-8B", "intern_vl", True),  # the original layout; the registry has InternVL3-8B-hf
    ("OpenGVLab/InternVL2_5-8B", "intern_vl", True),  # its organisation registers only -hf conversions
    ("OpenGVLab/InternVL3-8B-hf", "intern_vl", False),
    ("Qwen/Qwen2-VL-7B-Instruct", "qwen2_vl", False),
    ("someone/my-vlm", "qwen2_vl", False),  # unknown: not judged
])
def test_processor_of_a_hub_id(model, template, hit, tmp_path):
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", model).replace("template: qwen", f"template: {template}")
    assert bool(find(_report(tmp_path, yaml), "TY423")) == hit


def test_the_generated_table_carries_architecture_numbers():
    qwen2 = model_families.architecture("qwen2")
    assert qwen2["checkpoint"] == "Qwen/Qwen2-7B" and qwen2["numbers"]["layers"] == 32
    assert set(qwen2["numbers"]) >= {"layers", "hidden", "heads", "kv_heads", "intermediate", "vocab"}


# -- 4. DeepSpeed JSON, tokenized cache, pre-training blocks -----------------------------------------------------
def _ds(tmp_path, yaml_extra, ds, *args, env=None):
    return _report(tmp_path, BASE + "deepspeed: ds.json\n" + yaml_extra, {"ds.json": json.dumps(ds)}, *args)


def test_train_batch_size_uses_the_world_size(tmp_path, monkeypatch):
    ds = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4, "train_batch_size": 16}
    yaml = "per_device_train_batch_size: 2\ngradient_accumulation_steps: 4\n"
    assert find(_ds(tmp_path, yaml, ds), "TY444")  # one device: 8, not 16
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    assert not find(_ds(tmp_path, yaml, ds), "TY444")
    assert not find(_ds(tmp_path, yaml, ds, "--devices", "2"), "TY444")


@pytest.mark.parametrize("transformers, hit", [("4.57.6", True), ("5.6.0", False)])
def test_amp_is_matched_by_transformers_4_only(transformers, hit, stack, tmp_path):
    stack(transformers=transformers)
    found = find(_ds(tmp_path, "", {"amp": {"enabled": True}}), "TY444")
    assert bool(found) == hit


def test_the_mismatch_is_reported_at_the_json_key(tmp_path):
    write_project(tmp_path, {"train.yaml": BASE + "deepspeed: ds.json\nlearning_rate: 1.0e-4\n", **FILES,
                             "ds.json": '{\n  "optimizer": {\n    "params": {\n      "lr": 3e-5\n    }\n  }\n}\n'})
    _, report = check_json("train.yaml", cwd=tmp_path)
    [hit] = find(report, "TY444")
    assert hit["file"] == "ds.json" and hit["line"] == 4 and "`learning_rate`" in hit["message"]


def test_scheduler_steps_are_exact_with_max_steps(tmp_path):
    ds = {"scheduler": {"params": {"total_num_steps": 100, "warmup_num_steps": 10}}}
    assert not find(_ds(tmp_path, "max_steps: 100\nwarmup_steps: 10\n", ds), "TY444")
    assert find(_ds(tmp_path, "max_steps: 50\nwarmup_steps: 10\n", ds), "TY444")
    assert find(_ds(tmp_path, "", ds), "TY445")


def test_tokenized_cache_fingerprint_round_trip(tmp_path):
    from lfgate.settings import Settings
    from lfgate.validator import cached_data, training
    from lfgate.validator.dataset_info import load_registry

    write_project(tmp_path, {"train.yaml": BASE + "tokenized_path: tok\n", **FILES, "tok/dataset_dict.json": "{}"})
    assert "LK100" in codes(_report(tmp_path, BASE + "tokenized_path: tok\n"))  # no fingerprint yet
    settings = Settings()
    config = training.load_config(str(tmp_path / "train.yaml"), str(tmp_path), settings)
    written = cached_data.write(config, load_registry(str(tmp_path / "data/dataset_info.json"), settings), settings,
                                str(tmp_path / "tok"))
    assert written == str(tmp_path / "tok") + cached_data.SUFFIX and not os.path.exists(tmp_path / "tok" / "x")
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert "LK101" not in codes(report) and "matches" in find(report, "LK100")[0]["message"]
    (tmp_path / "data/a.json").write_text('[{"instruction": "bye", "input": "", "output": "see you"}]\n')
    _, report = check_json("train.yaml", cwd=tmp_path)
    [stale] = find(report, "LK101")
    assert "the data of `a`" in stale["message"]
    (tmp_path / "train.yaml").write_text(BASE + "tokenized_path: tok\ncutoff_len: 512\n")
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert "`cutoff_len` 2048 -> 512" in find(report, "LK101")[0]["message"]


def test_the_runner_writes_the_fingerprint_after_a_run_that_made_the_cache(tmp_path, monkeypatch):
    from lfgate.commands import train
    from lfgate.settings import Settings
    from lfgate.validator import cached_data

    write_project(tmp_path, {"train.yaml": BASE + "tokenized_path: tok\n", **FILES})

    def launch(command, env):  # stands for llamafactory-cli train: it saves the tokenized dataset
        write_project(tmp_path, {"tok/dataset_dict.json": "{}"})
        return 0

    monkeypatch.setattr(train.subprocesses, "which", lambda name: "/bin/" + name)
    monkeypatch.setattr(train.subprocesses, "call", launch)
    monkeypatch.chdir(tmp_path)
    assert train._run_llamafactory("train.yaml", {}, Settings()) == 0
    assert (tmp_path / ("tok" + cached_data.SUFFIX)).is_file()


def test_pretraining_below_one_block(tmp_path):
    pt = BASE.replace("stage: sft", "stage: pt")
    assert "LK102" in codes(_report(tmp_path, pt))
    assert "LK102" not in codes(_report(tmp_path, pt + "cutoff_len: 16\n"))
    assert "LK102" not in codes(_report(tmp_path, pt + "packing: false\n"))


# -- 5. kernels ------------------------------------------------------------------------------------------------
def test_fa2_falls_back_without_flash_attn_only(stack, tmp_path):
    stack(flash_attn=None)
    assert "TY450" in codes(_report(tmp_path, BASE + "flash_attn: fa2\n"))
    stack(flash_attn="2.8.3")
    assert "TY450" not in codes(_report(tmp_path, BASE + "flash_attn: fa2\n"))


@pytest.mark.parametrize("release, hit", [("0.9.5", True), ("0.9.6", False)])
def test_fa3_is_unknown_to_0_9_5(release, hit, stack, tmp_path):
    stack(llamafactory=release)
    assert ("TY451" in codes(_report(tmp_path, BASE + "flash_attn: fa3\n"))) == hit


def test_neat_packing_batch_depends_on_flash_attn(stack, tmp_path):
    yaml = BASE + "neat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 4\n"
    stack(flash_attn="2.8.3")
    assert find(_report(tmp_path, yaml), "TY452")[0]["severity"] == "error"
    stack(flash_attn=None)
    assert not find(_report(tmp_path, yaml), "TY452")
    yaml_one = yaml.replace("per_device_train_batch_size: 4", "per_device_train_batch_size: 1")
    stack(flash_attn="2.8.3")
    assert not find(_report(tmp_path, yaml_one), "TY452")


@pytest.mark.parametrize("liger, model_type, expected", [
    (None, "qwen2", "TY455"), ("0.6.2", "qwen2", None), (None, "gpt2", "TY454"), ("0.6.2", "gpt2", "TY454"),
])
def test_liger_kernel(liger, model_type, expected, stack, tmp_path):
    stack(liger_kernel=liger)
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "m") + "enable_liger_kernel: true\n"
    found = codes(_report(tmp_path, yaml, {"m/config.json": json.dumps({"model_type": model_type})}))
    assert found & {"TY454", "TY455"} == ({expected} if expected else set())


# -- 6. launch variables ---------------------------------------------------------------------------------------
TWO = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize("env, expected", [
    (TWO, set()),
    ({**TWO, "MASTER_PORT": ""}, {"RN040"}),
    ({k: v for k, v in TWO.items() if k != "MASTER_ADDR"}, {"RN041"}),
    ({**TWO, "MASTER_ADDR": "localhost"}, {"RN041"}),
    ({**TWO, "MASTER_ADDR": "::1"}, {"RN041"}),
    ({**{k: v for k, v in TWO.items() if k != "NODE_RANK"}, "RANK": "1"}, {"RN042"}),
    ({**TWO, "NODE_RANK": "2"}, {"RN043"}),
    ({**TWO, "MAX_NNODES": "4", "RDZV_ID": "j"}, {"RN044"}),
    ({**TWO, "MIN_NNODES": "1", "MAX_NNODES": "4"}, {"RN044"}),  # no RDZV_ID: no elastic launch
    ({**TWO, "MIN_NNODES": "1", "MAX_NNODES": "4", "RDZV_ID": "j"}, set()),
    ({"NPROC_PER_NODE": "8", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}, {"RN045"}),
    ({"NPROC_PER_NODE": "4", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}, set()),
    ({**TWO, "CUDA_VISIBLE_DEVICES": "0"}, {"RN047"}),
    ({**TWO, "CUDA_VISIBLE_DEVICES": "0", "FORCE_TORCHRUN": "1"}, set()),
    ({"RANK": "1"}, set()),  # one node: RANK is torchrun's business
])
def test_launch_variables(env, expected):
    assert {d.code for d in multinode.check(env)} == expected


def test_nproc_against_the_devices_train_probed():
    assert {d.code for d in multinode.check({"NPROC_PER_NODE": "4"}, present=(2, "cuda"))} == {"RN045"}
    assert not multinode.check({"NPROC_PER_NODE": "2"}, present=(2, "cuda"))


def test_check_reports_launch_variables_once_and_only_with_a_training_config(tmp_path, monkeypatch):
    for name, value in {**TWO, "MASTER_PORT": ""}.items():
        monkeypatch.setenv(name, value)
    write_project(tmp_path, {"train.yaml": BASE, "other.yaml": BASE.replace("output_dir: out", "output_dir: o2"),
                             **FILES})
    _, report = check_json(".", cwd=tmp_path)
    assert len(find(report, "RN040")) == 1
    _, report = check_json("data", cwd=tmp_path)
    assert not find(report, "RN040")


@pytest.mark.parametrize("line, hit", [
    ("deepspeed --num_gpus 8 src/train.py examples/train_lora/llama3_lora_sft.yaml", True),
    ("CUDA_VISIBLE_DEVICES=0,1 nohup deepspeed --include localhost:0,1 train.py cfg.yml > log &", True),
    ("deepspeed --num_gpus 8 \\\n  src/train.py \\\n  train.yaml", True),
    ("deepspeed --no_local_rank --num_gpus 8 src/train.py train.yaml", False),
    ("deepspeed --num_gpus 8 src/train.py --deepspeed ds.json --stage sft --model_name_or_path m", False),
    ("FORCE_TORCHRUN=1 llamafactory-cli train train.yaml", False),
    ("torchrun --nproc_per_node 8 src/train.py train.yaml", False),
    ("# deepspeed --num_gpus 8 src/train.py train.yaml", False),
])
def test_deepspeed_launcher_with_a_yaml_in_a_script(line, hit, tmp_path):
    write_project(tmp_path, {"train.yaml": BASE, **FILES, "scripts/run.sh": "#!/bin/bash\n" + line + "\n"})
    _, report = check_json(".", cwd=tmp_path)
    hits = find(report, "RN046")
    assert bool(hits) == hit
    if hit:
        assert hits[0]["file"] == "scripts/run.sh" and hits[0]["line"] == 2


def test_train_reports_the_launch_variables_once(tmp_path, monkeypatch):
    from lfgate.runner.rules import _example

    for name, value in {**TWO, "MASTER_PORT": ""}.items():
        monkeypatch.setenv(name, value)
    write_project(tmp_path, _example())
    code, out, _ = run_cli("train", "--format", "json", "train.yaml", "--dry-run", cwd=tmp_path)
    assert [d["code"] for d in json.loads(out)["diagnostics"]].count("RN040") == 1 and code == 1


def test_fa2_on_a_gpu_older_than_ampere(tmp_path):
    from lfgate.runner.rules import _example

    write_project(tmp_path, _example("flash_attn: fa2\n"))
    _, out, _ = run_cli("train", "--format", "json", "train.yaml", "--dry-run", "--target", "v100:2", cwd=tmp_path)
    assert "RN048" in {d["code"] for d in json.loads(out)["diagnostics"]}
    _, out, _ = run_cli("train", "--format", "json", "train.yaml", "--dry-run", "--target", "a100:2", cwd=tmp_path)
    assert "RN048" not in {d["code"] for d in json.loads(out)["diagnostics"]}


# -- 7. smaller misdiagnoses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("columns, wanted", [
    ({"messages": "conversations", "video": "videos"}, '"videos": "<your field>"'),
    ({"messages": "conversations", "image": "pics"}, '"images": "pics"'),
    ({"prompt": "q", "output": "answer"}, '"response": "answer"'),
])
def test_a_data_field_on_the_left_names_the_key_llamafactory_reads(columns, wanted, tmp_path):
    entry = {"file_name": "a.json", "columns": columns}
    if "messages" in columns:
        entry["formatting"] = "sharegpt"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": entry}), "data/a.json": "[]"})
    _, report = check_json("data", cwd=tmp_path)
    [hit] = find(report, "DI103")
    assert wanted in hit["message"]


def test_every_registry_pairing_of_a_template_and_a_model():
    """LK020 never objects to the template LLaMA-Factory's registry pairs a model with; a `_nothink` template is
    the non-thinking variant only of a reasoning template (ernie and ernie_nothink are two formats)."""
    from lfgate.validator import links, train_schema
    from lfgate.validator.training.config import TrainingConfig

    registry = train_schema.templates()["model_to_template"]
    templates = train_schema.templates()["templates"]

    def lk020(model, template):
        config = TrainingConfig("x.yaml", "/nonexistent", {"model_name_or_path": model, "template": template})
        return [d.message for d in links._check_template(config, {})]

    assert all(not lk020(model, template) for model, template in registry.items())
    for model, template in registry.items():
        base = template[: -len("_nothink")] if template.endswith("_nothink") else template
        variant = base if template.endswith("_nothink") else base + "_nothink"
        if variant not in templates:
            continue
        said = lk020(model, variant)
        if templates[base]["reasoning"] and template.endswith("_nothink"):
            assert said and "reasoning" in said[0]  # a thinking template for a model that does not think
        elif templates[base]["reasoning"]:
            assert not said  # the non-thinking variant of a reasoning model's template: the user's choice
        else:
            assert said and "does not match" in said[0]  # ernie / ernie_nothink
