"""The issue-22 rules against LLaMA-Factory 0.9.5 itself (and the TRL, transformers and PEFT in its venv).

One run of tests/lf_what_trains_oracle.py in LLaMA-Factory's venv (LFGATE_LF_PYTHON, default ../lfvenv/bin/python)
records what LLaMA-Factory does; each test then checks lfgate, judging with that venv's package versions
(lf_stack faked to them), on the same project or setting. Skips without the venv; fails under
LFGATE_REQUIRE_ORACLES=1.
"""

import functools
import json
import os
import pathlib
import subprocess

import pytest

from conftest import oracle_missing, write_project
from helpers import check_json, codes, find
from lfgate import lf_stack
from lfgate.settings import Settings
from lfgate.validator import multinode

pytestmark = pytest.mark.llamafactory

ROOT = pathlib.Path(__file__).resolve().parent.parent
LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))

# (DeepSpeed config, TrainingArguments keys = the YAML's, the run's optimizer steps)
DEEPSPEED = {
    "quoted_micro": ({"train_micro_batch_size_per_gpu": "2"}, {"per_device_train_batch_size": 2}, 10),
    "batch": ({"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4, "train_batch_size": 16},
              {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2}, 10),
    "optimizer": ({"optimizer": {"type": "AdamW", "params": {"lr": 2e-5, "betas": [0.9, 0.95], "eps": "auto",
                                                             "weight_decay": 0.0}}}, {"learning_rate": 1e-4}, 10),
    "precision": ({"fp16": {"enabled": True}, "bf16": {"enabled": "auto"}}, {}, 10),
    "clipping": ({"gradient_clipping": 0.5, "train_batch_size": "auto"}, {}, 10),
    "scheduler": ({"scheduler": {"type": "WarmupDecayLR", "params": {"total_num_steps": 100, "warmup_num_steps": 5,
                                                                     "warmup_max_lr": "auto"}}},
                  {"max_steps": 50, "warmup_steps": 5}, 50),
    "all_auto": ({"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                  "train_batch_size": "auto", "optimizer": {"params": {"lr": "auto"}}}, {"learning_rate": 1e-4}, 10),
}
_PT = dict(model_name_or_path="tiny", stage="pt", do_train=True, finetuning_type="lora", dataset="c",
           dataset_dir="data", output_dir="out", overwrite_output_dir=True, template="empty", report_to="none")
_SFT = dict(model_name_or_path="tiny", stage="sft", do_train=True, finetuning_type="lora", dataset="a",
            dataset_dir="data", output_dir="out", overwrite_output_dir=True, template="qwen", report_to="none",
            cutoff_len=64)
DATASETS = {
    "pt_short": {**_PT, "cutoff_len": 2048},
    "pt_fits": {**_PT, "cutoff_len": 8},
    "tokenized_save": {**_SFT, "tokenized_path": "tok"},
    "tokenized_load": {**_SFT, "dataset": "no_such_dataset", "cutoff_len": 4, "tokenized_path": "tok"},
}
_TWO = {"NNODES": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "_DEVICES": "2"}
LAUNCHER = {
    "no_port": {**{k: v for k, v in _TWO.items() if k != "MASTER_PORT"}, "NODE_RANK": "1"},
    "rank_only": {**_TWO, "RANK": "1"},
    "default_addr": {**{k: v for k, v in _TWO.items() if k != "MASTER_ADDR"}, "NODE_RANK": "0"},
    "elastic_half": {**_TWO, "NODE_RANK": "0", "RDZV_ID": "job", "MIN_NNODES": "1"},
    "one_device": {**_TWO, "NODE_RANK": "0", "_DEVICES": "1"},
}
FILES = {"data/dataset_info.json": json.dumps({"c": {"file_name": "c.json", "columns": {"prompt": "text"}},
                                               "a": {"file_name": "a.json"}}),
         "data/c.json": json.dumps([{"text": "hello world, this is a short text."}, {"text": "another short one."}]),
         "data/a.json": json.dumps([{"instruction": f"say {i}", "input": "", "output": f"{i}"} for i in range(4)])}


@functools.lru_cache(maxsize=1)
def _run(work: str):
    if not os.path.exists(LF_PYTHON):
        return None
    ok = subprocess.run([LF_PYTHON, "-c", "import llamafactory, trl, peft"], capture_output=True, timeout=300)
    if ok.returncode != 0:
        return None
    write_project(pathlib.Path(work), FILES)
    subprocess.run([LF_PYTHON, str(ROOT / "scripts" / "make_tiny_model.py"), os.path.join(work, "tiny")],
                   check=True, capture_output=True, timeout=600)
    cases = {"deepspeed": DEEPSPEED, "datasets": DATASETS, "launcher": LAUNCHER}
    run = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_what_trains_oracle.py")], input=json.dumps(cases),
                         capture_output=True, text=True, cwd=work, timeout=900)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, run.stderr[-4000:]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def lf(tmp_path_factory):
    work = tmp_path_factory.mktemp("what_trains")
    result = _run(str(work))
    if result is None:
        oracle_missing("no Python with llamafactory, trl and peft (set LFGATE_LF_PYTHON)")
    result["work"] = str(work)
    return result


@pytest.fixture
def venv_stack(lf):
    """lfgate judges with the venv's own package versions."""
    lf_stack.use(lf_stack.Stack(dict(lf["versions"]), "in LLaMA-Factory's venv"))
    yield lf["versions"]
    lf_stack.use(None)


BASE = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
        "template: qwen\noutput_dir: out\ndataset: a\n")


def _check(tmp_path, yaml: str, files=None):
    write_project(tmp_path, {"train.yaml": yaml, **FILES, **(files or {})})
    _, report = check_json("train.yaml", cwd=tmp_path)
    return report


def _trl_sigmoid(versions) -> bool:
    return lf_stack.release(versions["trl"]) >= (0, 20, 0)


# -- 1. preference losses -------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["hinge", "ipo", "kto_pair"])
def test_pref_loss_trains_what_the_rule_says(loss, lf, venv_stack, tmp_path):
    dpo = lf["dpo"]
    report = _check(tmp_path, BASE.replace("stage: sft", "stage: dpo") + f"pref_loss: {loss}\n")
    if _trl_sigmoid(venv_stack):
        assert dpo[loss] == dpo["sigmoid"], dpo  # CustomDPOTrainer trains plain sigmoid DPO
        assert "TY440" in codes(report) and "TY441" not in codes(report)
    elif isinstance(dpo[loss], str):
        assert "Unknown loss type" in dpo[loss] and "TY441" in codes(report)
    else:
        assert dpo[loss] != dpo["sigmoid"] and not {"TY440", "TY441"} & codes(report)


def test_ppo_refuses_the_trl_llamafactory_allows(lf, venv_stack, tmp_path):
    report = _check(tmp_path, BASE.replace("stage: sft", "stage: ppo") + "reward_model: saves/rm\n")
    low_enough = lf_stack.release(venv_stack["trl"]) <= (0, 9, 6)
    assert (lf["ppo"] is None) == low_enough
    assert ("TY442" in codes(report)) == (not low_enough)
    if not low_enough:
        assert "trl>=0.8.6,<=0.9.6" in lf["ppo"]


def test_kto_always_trains_the_kto_loss(lf, tmp_path):
    assert lf["kto"] is True
    assert "TY443" in codes(_check(tmp_path, BASE.replace("stage: sft", "stage: kto") + "pref_loss: ipo\n"))


# -- 5. attention and kernels ---------------------------------------------------------------------------------
def test_fa3_raises_and_fa2_falls_back_without_flash_attn(lf, venv_stack, tmp_path):
    attention = lf["attention"]
    assert attention["fa3"].startswith("NotImplementedError: Unknown attention type: fa3")
    assert attention["sdpa"] == "sdpa"
    fa3 = _check(tmp_path, BASE + "flash_attn: fa3\n")
    assert "TY451" in codes(fa3)
    fa2 = _check(tmp_path, BASE + "flash_attn: fa2\n")
    if venv_stack["flash-attn"] is None:
        assert attention["fa2"] is None and "TY450" in codes(fa2)  # nothing requested: transformers' default
    else:
        assert "TY450" not in codes(fa2)


def test_neat_packing_asserts_with_flash_attention_2_only(lf, venv_stack, tmp_path):
    neat = lf["neat_packing"]
    assert neat["flash_attention_2"].startswith("AssertionError: bsz should be 1 for neat packing")
    assert neat["sdpa"] is None
    assert "Neat packing is not supported for gemma4" in neat["gemma4"]
    lf_stack.use(lf_stack.Stack({**venv_stack, "flash-attn": "2.8.3"}, "with flash-attn"))
    report = _check(tmp_path, BASE + "neat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 2\n")
    assert "TY452" in codes(report)
    lf_stack.use(lf_stack.Stack({**venv_stack, "flash-attn": None}, "without flash-attn"))
    assert "TY452" not in codes(_check(tmp_path, BASE + "neat_packing: true\nflash_attn: fa2\n"
                                                        "per_device_train_batch_size: 2\n"))


def test_liger_is_a_no_op_outside_its_list_and_fails_without_the_package(lf, venv_stack, tmp_path):
    liger = lf["liger"]
    assert liger["gpt2"] is None
    report = _check(tmp_path, BASE + "enable_liger_kernel: true\n")  # a Qwen2 model (the registry)
    if venv_stack["liger-kernel"] is None:
        assert liger["qwen2"].startswith(("ModuleNotFoundError", "ImportError")) and "TY455" in codes(report)
    else:
        assert liger["qwen2"] is None and "TY455" not in codes(report)
    local = _check(tmp_path, BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "m") + "enable_liger_kernel: true\n",
                   {"m/config.json": '{"model_type": "gpt2"}'})
    assert "TY454" in codes(local)


# -- 3. lora_target against the model's modules ---------------------------------------------------------------
def test_lora_target_none_found_raises_and_some_found_is_silent(lf, tmp_path):
    peft = lf["peft"]
    assert "Target modules" in peft["c_attn"] and "not found" in peft["c_attn"]
    assert peft["q_proj,c_attn"] == ["q_proj"]  # c_attn dropped in silence
    tiny = {"tiny/config.json": (pathlib.Path(lf["work"]) / "tiny" / "config.json").read_text()}
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "tiny")
    [none] = find(_check(tmp_path, yaml + "lora_target: c_attn\n", tiny), "LK030")
    [some] = find(_check(tmp_path, yaml + "lora_target: q_proj,c_attn\n", tiny), "LK030")
    assert none["severity"] == "error" and some["severity"] == "warning"
    assert not find(_check(tmp_path, yaml + "lora_target: q_proj,v_proj\n", tiny), "LK030")


# -- 4. DeepSpeed JSON against the YAML -------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(DEEPSPEED))
def test_deepspeed_mismatches_are_transformers_own(case, lf, venv_stack, tmp_path):
    ds, keys, _ = DEEPSPEED[case]
    yaml = BASE + "deepspeed: ds.json\n" + "".join(f"{k}: {v}\n" for k, v in keys.items())
    report = _check(tmp_path, yaml, {"ds.json": json.dumps(ds)})
    found = sorted(d["message"].split("`")[1].split(":")[0] for d in find(report, "TY444"))
    assert found == sorted(lf["deepspeed"][case]), (found, lf["deepspeed"][case])


def test_pretraining_text_below_one_block(lf, tmp_path):
    assert lf["datasets"]["pt_short"].startswith("RuntimeError: Cannot find sufficient samples")
    assert isinstance(lf["datasets"]["pt_fits"], int) and lf["datasets"]["pt_fits"] > 0
    short = "".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in DATASETS["pt_short"].items()
                    if k not in ("overwrite_output_dir", "report_to"))
    assert "LK102" in codes(_check(tmp_path, short))
    assert "LK102" not in codes(_check(tmp_path, short.replace("cutoff_len: 2048", "cutoff_len: 8")))


def test_a_tokenized_cache_is_loaded_whatever_the_data(lf, tmp_path):
    datasets = lf["datasets"]
    assert isinstance(datasets["tokenized_save"], int)
    assert datasets["tokenized_load"] == datasets["tokenized_save"]  # `dataset: no_such_dataset` never read
    cache = {f"tok/{p.relative_to(pathlib.Path(lf['work']) / 'tok')}": p.read_bytes()
             for p in (pathlib.Path(lf["work"]) / "tok").rglob("*") if p.is_file()}
    assert "LK100" in codes(_check(tmp_path, BASE + "tokenized_path: tok\n", cache))


# -- 6. the launch ---------------------------------------------------------------------------------------------
def _flag(command, name):
    return command[command.index(name) + 1]


def test_launcher_builds_torchrun_as_the_rules_say(lf):
    launched = lf["launcher"]
    env = {k: v for k, v in LAUNCHER["no_port"].items() if not k.startswith("_")}
    assert _flag(launched["no_port"], "--master_port").isdigit()  # a port this node chose for itself
    assert "RN040" in {d.code for d in multinode.check(env)}
    assert _flag(launched["rank_only"], "--node_rank") == "0"
    assert "RN042" in {d.code for d in multinode.check({k: v for k, v in LAUNCHER["rank_only"].items()
                                                        if not k.startswith("_")})}
    assert _flag(launched["default_addr"], "--master_addr") == "127.0.0.1"
    assert "RN041" in {d.code for d in multinode.check({k: v for k, v in LAUNCHER["default_addr"].items()
                                                        if not k.startswith("_")})}
    assert _flag(launched["elastic_half"], "--nnodes") == "2"  # MIN_NNODES alone: no elastic range
    assert "RN044" in {d.code for d in multinode.check({k: v for k, v in LAUNCHER["elastic_half"].items()
                                                        if not k.startswith("_")})}
    assert not isinstance(launched["one_device"], list)  # one device, no FORCE_TORCHRUN: no torchrun at all
    one = {**{k: v for k, v in LAUNCHER["one_device"].items() if not k.startswith("_")}, "CUDA_VISIBLE_DEVICES": "0"}
    assert "RN047" in {d.code for d in multinode.check(one)}


def test_the_deepspeed_launcher_breaks_yaml_parsing(lf, tmp_path):
    outcome = lf["deepspeed_launcher"]
    assert outcome["deepspeed"] is not None and outcome["deepspeed"].startswith("ValueError")  # the YAML unread
    assert outcome["torchrun"] is None
    write_project(tmp_path, {"train.yaml": BASE, **FILES,
                             "run.sh": "deepspeed --num_gpus 2 src/train.py train.yaml\n"})
    _, report = check_json(".", cwd=tmp_path)
    assert "RN046" in codes(report)


# -- 7. templates ------------------------------------------------------------------------------------------------
def test_ernie_and_ernie_nothink_are_two_formats(lf, tmp_path):
    templates = lf["templates"]
    assert templates["qwen3"]["reasoning"] and not templates["qwen3_nothink"]["reasoning"]
    assert not templates["ernie"]["reasoning"] and templates["ernie"]["user"] != templates["ernie_nothink"]["user"]
    yaml = BASE.replace("Qwen/Qwen2.5-0.5B-Instruct", "baidu/ERNIE-4.5-21B-A3B-Thinking").replace(
        "template: qwen", "template: ernie_nothink")
    [hit] = find(_check(tmp_path, yaml), "LK020")
    assert "does not match" in hit["message"] and "reasoning" not in hit["message"]


def test_settings_object_is_accepted_by_the_stack():
    assert lf_stack.llamafactory(Settings(llamafactory_version="0.9.5")) == "0.9.5"
