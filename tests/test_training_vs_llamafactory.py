"""The TY rules against the real LLaMA-Factory: each error rule's `bad` example makes LLaMA-Factory's own loading
and argument parsing (OmegaConf.load + get_train_args) fail with the message the rule quotes, and its `good`
example does not. Skipped when no llamafactory is available (in this interpreter or ../lfvenv)."""

import functools
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import oracle_missing
from lfgate.registry import all_rules

pytestmark = pytest.mark.llamafactory

ROOT = pathlib.Path(__file__).resolve().parent.parent

# code -> the part of LLaMA-Factory's (or OmegaConf's / transformers') error the bad example must produce.
EXPECTED = {
    "TY002": "found duplicate key", "TY003": "could not determine a constructor", "TY005": "GrammarParseError",
    "TY006": "unhashable", "TY101": "Some keys are not used", "TY102": "Some keys are not used",
    "TY103": "Some keys are not used", "TY105": "Some keys are not used", "TY108": "Some keys are not used",
    "TY109": "Some keys are not used",
    "TY202": "is not a valid SchedulerType",
    "TY301": "Please provide `model_name_or_path`", "TY302": "cannot be smaller than",
    "TY303": "Quantization dataset is necessary", "TY304": "if `dataset` is None",
    "TY305": "if `eval_dataset` is not None", "TY306": "only valid for interleaved mixing",
    "TY307": "should be identical", "TY308": "integer val size", "TY309": "incompatible with `streaming`",
    "TY310": "incompatible with `train_on_prompt`", "TY311": "requires either non-zero --eval_steps",
    "TY312": "requires non-zero --logging_steps", "TY313": "must be an integer if bigger than 1",
    "TY314": "--load_best_model_at_end requires", "TY316": "requires an eval strategy",
    "TY317": "warmup_steps must be", "TY318": "dataloader_prefetch_factor can only be set",
    "TY319": "4-bit or 8-bit", "TY320": "`reward_model` is necessary", "TY321": "cannot be lora for",
    "TY322": "only valid for sigmoid", "TY323": "only valid for Freeze or LoRA", "TY324": "Cannot use LoRA with",
    "TY325": "Cannot use GaLore, APOLLO or BAdam together", "TY326": "Cannot use PiSSA",
    "TY327": "is only valid for LoRA training", "TY328": "except SFT", "TY329": "Please enable `predict_with_generate`",
    "TY330": "do not support `load_best_model_at_end`", "TY331": "PPO training does not support evaluation",
    "TY332": "incompatible with S^2-Attn", "TY333": "PPO only accepts", "TY335": "Please specify `max_steps`",
    "TY336": "Please specify dataset for training", "TY337": "Please make sure eval_dataset be provided",
    "TY339": "Cannot use `predict_with_generate` and `compute_accuracy` together",
    "TY340": "Cannot use device map", "TY344": "FP8 training is not compatible", "TY345": "vLLM/SGLang backend",
    "TY347": "Adapter is only valid", "TY348": "Quantization is only compatible", "TY349": "Cannot resize embedding",
    "TY350": "`--project` must be specified", "TY352": "must be an integer bigger than 0",
    "TY431": "Seed must be between 0 and 2**32 - 1",
}
# Error rules not probed here: the outcome depends on the machine (no GPU: bf16 fails first on a CPU; no
# deepspeed/unsloth: the dependency check fails first; files on disk: TY212, TY360), LLaMA-Factory fails only later
# than argument parsing (TY203 after the tokenizer, TY211/TY216 with the data, TY351 with the template), or the
# rule is about another entry point or version (TY104, TY107) or the reader (TY001, TY004). TY220 is a setting
# LLaMA-Factory accepts and silently ignores: it never raises, which is why lfgate reports it.
MACHINE_DEPENDENT = {"TY315", "TY338", "TY341", "TY342", "TY343", "TY346", "TY351", "TY360", "TY001", "TY004",
                     "TY104", "TY107", "TY203", "TY211", "TY212", "TY216", "TY220"}

# Error rules for what LLaMA-Factory 0.9.5's argument parsing accepts and a later step refuses (the model, peft,
# the Trainer, the forward pass: TY4xx; files on disk: TY42x), or for newer releases and v1 (TY5xx, TY6xx).
# TY432-TY436: the data loader, PEFT, torch's optimizer or the evaluation loop raise (issue 21, tests in
# test_hostile_faults.py); TY430: nothing raises, the run writes over the project. TY441-TY455 are probed against
# LLaMA-Factory in tests/test_what_trains_vs_llamafactory.py.
LATER_OR_ELSEWHERE = {"TY401", "TY404", "TY407", "TY408", "TY410", "TY411", "TY420", "TY422", "TY423", "TY424",
                      "TY425", "TY441", "TY442", "TY444", "TY451", "TY452", "TY453", "TY455", "TY501", "TY502",
                      "TY503", "TY504", "TY601", "TY602", "TY603", "TY604",
                      "TY430", "TY432", "TY433", "TY434", "TY435", "TY436"}

# Error rules about the file before its arguments exist (a Git LFS pointer: TY011; a JSON config that read_args
# cannot read: TY013, seen with 0.9.5 in the spec) or lfgate's own launch gate (TY017): no argument set to probe.
BEFORE_PARSING = {"TY011", "TY013", "TY017"}

PROBE = r"""
import contextlib, io, json, os, sys
os.environ["DISABLE_VERSION_CHECK"] = "1"
from omegaconf import OmegaConf
from llamafactory.hparams import get_train_args
out = {}
for name, text in json.load(sys.stdin).items():
    with open(name + ".yaml", "w") as f:
        f.write(text)
    try:
        args = OmegaConf.to_container(OmegaConf.load(name + ".yaml"))
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            get_train_args(args)
        out[name] = None
    except BaseException as err:
        out[name] = type(err).__name__ + ": " + str(err)
print("RESULT " + json.dumps(out))
"""


@functools.cache
def _llamafactory_python():
    if importlib.util.find_spec("llamafactory") and importlib.util.find_spec("omegaconf"):
        return sys.executable
    candidate = pathlib.Path(os.environ.get("LFGATE_LF_PYTHON", ROOT.parent / "lfvenv" / "bin" / "python"))
    if candidate.exists():
        ok = subprocess.run([str(candidate), "-c", "import llamafactory.hparams, omegaconf"], capture_output=True,
                            timeout=300)
        if ok.returncode == 0:
            return str(candidate)
    return None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    python = _llamafactory_python()
    if python is None:
        oracle_missing("llamafactory is not installed")
    cases = {}
    for code, rule in all_rules().items():
        if code in EXPECTED:
            cases[f"{code}_bad"] = rule.bad["train.yaml"]
            good = rule.good["train.yaml"]
            cases[f"{code}_good"] = good if "\ndataset:" in "\n" + good else good + "dataset: a\n"
    work = tmp_path_factory.mktemp("lfprobe")
    run = subprocess.run([python, "-c", PROBE], input=json.dumps(cases), capture_output=True, text=True,
                         cwd=work, timeout=600)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, run.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_llamafactory_rejects_the_bad_example_as_the_rule_says(code, outcomes):
    error = outcomes[f"{code}_bad"]
    assert error is not None and EXPECTED[code] in error, error


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_llamafactory_accepts_the_good_example(code, outcomes):
    error = outcomes[f"{code}_good"]
    assert error is None or EXPECTED[code] not in error, error


def test_every_error_rule_is_probed_or_explained():
    rules = all_rules()
    errors = {c for c, r in rules.items() if c.startswith("TY") and str(r.severity) == "error"}
    known = set(EXPECTED) | MACHINE_DEPENDENT | LATER_OR_ELSEWHERE | BEFORE_PARSING | {"TY201"}
    assert errors <= known, errors - known


_CORPUS_PROBE = r"""
import contextlib, glob, io, json, os, sys
os.environ["DISABLE_VERSION_CHECK"] = "1"
from omegaconf import OmegaConf
from llamafactory.hparams import get_infer_args, get_train_args
root, drop = sys.argv[1], json.load(sys.stdin)
out = {}
for path in sorted(glob.glob(root + "/examples/**/*.yaml", recursive=True)):
    rel = os.path.relpath(path, root)
    args = OmegaConf.to_container(OmegaConf.load(path))
    for key in drop:
        args.pop(key, None)
    infer = "export_dir" in args and not args.get("do_train") or not {"stage", "do_train", "output_dir"} & set(args)
    if not infer:
        args["output_dir"] = os.path.join(os.getcwd(), "out", rel)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            (get_infer_args if infer else get_train_args)(args)
        out[rel] = None
    except BaseException as err:
        out[rel] = type(err).__name__ + ": " + str(err)
print("RESULT " + json.dumps(out))
"""
# Keys whose check needs this machine to have a GPU or an optional package; dropped before LLaMA-Factory parses.
_MACHINE_KEYS = ["bf16", "fp16", "pure_bf16", "deepspeed", "fp8", "fp8_backend", "fp8_enable_fsdp_float8_all_gather",
                 "use_kt", "use_unsloth", "quantization_bit", "quantization_method", "use_galore", "use_apollo",
                 "use_badam", "use_adam_mini", "mixture_of_depths", "use_swanlab", "plot_loss", "fsdp", "fsdp_config",
                 "enable_liger_kernel", "use_muon", "ray_num_workers", "infer_backend", "use_v1_kernels",
                 "predict_with_generate"]


def test_corpus_errors_agree_with_llamafactory(tmp_path, monkeypatch):
    """On LLaMA-Factory's own examples, a parse-time TY error is reported exactly where 0.9.5 rejects the file."""
    import shutil

    from lfgate.validator import stock

    monkeypatch.setattr(stock, "release_of", lambda path: None)  # its own tree, judged as its own (not stock)

    from conftest import CORPUS
    from helpers import check_json

    python = _llamafactory_python()
    if python is None or not CORPUS.is_dir():
        oracle_missing("llamafactory or the corpus is not available")
    run = subprocess.run([python, "-c", _CORPUS_PROBE, str(CORPUS)], input=json.dumps(_MACHINE_KEYS),
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, run.stderr[-3000:]
    outcome = json.loads(line[len("RESULT "):])
    shutil.copytree(CORPUS, tmp_path / "lf")
    _, report = check_json("examples", "--llamafactory-version", "0.9.5", cwd=tmp_path / "lf")
    parse_time = {d["file"] for d in report["diagnostics"] if d["severity"] == "error"
                  and d["code"][:3] in ("TY1", "TY3") and d["code"] not in MACHINE_DEPENDENT - {"TY104"}}
    from lfgate.settings import Settings
    from lfgate.validator import training

    def standard_config(rel):  # what lfgate reads as a llamafactory-cli config (not accelerate, v1, Megatron)
        config = training.load_config(str(CORPUS / rel), str(CORPUS), Settings(llamafactory_version="0.9.5"))
        return config is not None and config.engine == "v0"

    # predict_with_generate is dropped above (it needs extra packages), so `do_predict` then fails by construction.
    rejected = {f for f, err in outcome.items() if err and "predict_with_generate" not in err and standard_config(f)}
    parse_time = {f for f in parse_time if standard_config(f)}
    assert parse_time == rejected, {"lfgate only": parse_time - rejected,
                                    "llamafactory only": {f: outcome[f] for f in rejected - parse_time}}


# -- differential: random combinations of the keys the parse checks read ------------------------------------------
_POOL = {
    "stage": ["sft", "pt", "rm", "dpo", "kto", "ppo"], "finetuning_type": ["lora", "full", "freeze", "oft"],
    "do_train": [True, False], "do_eval": [True, False], "do_predict": [True, False], "val_size": [0.0, 0.1, 5],
    "eval_dataset": ["b", None], "dataset": ["a", "a,b", None], "streaming": [True, False], "max_steps": [-1, 100],
    "max_samples": [None, 100], "mask_history": [True, False], "train_on_prompt": [True, False],
    "neat_packing": [True, False], "eval_strategy": ["no", "steps", "epoch"], "eval_steps": [None, 10, 30, 7.5],
    "save_steps": [100, 50, 100.5], "logging_steps": [10, 0, 2.5], "load_best_model_at_end": [True, False],
    "save_strategy": ["steps", "epoch", "best"], "lr_scheduler_type": ["cosine", "reduce_lr_on_plateau", "greedy"],
    "warmup_steps": [0, -1, 0.1], "reward_model": [None, "r"], "reward_model_type": ["lora", "full"],
    "pref_loss": ["sigmoid", "ipo", "orpo", "simpo"], "dpo_label_smoothing": [0.0, 0.1], "use_llama_pro": [True, False],
    "pissa_init": [True, False], "use_dora": [True, False], "loraplus_lr_ratio": [None, 16.0],
    "adapter_name_or_path": [None, "x", "x,y"], "create_new_adapter": [True, False], "resize_vocab": [True, False],
    "shift_attn": [True, False], "report_to": ["none", "mlflow", "wandb"], "compute_accuracy": [True, False],
    "interleave_probs": [None, "0.5,0.5", "1.0"], "mix_strategy": ["concat", "interleave_under"],
    "image_max_pixels": [1024, 589824], "image_min_pixels": [1024, 4096], "dataloader_prefetch_factor": [None, 2],
    "dataloader_num_workers": [0, 2], "ref_model_quantization_bit": [None, 4, 2], "quantization_device_map": [None, "auto"],
    "export_quantization_bit": [None, 4], "torch_empty_cache_steps": [None, 0, 5], "logging_strategy": ["steps", "epoch"],
}
_DIFF_PROBE = r"""
import contextlib, io, json, os, sys
os.environ["DISABLE_VERSION_CHECK"] = "1"
from llamafactory.hparams import get_train_args
out = {}
for name, args in json.load(sys.stdin).items():
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            get_train_args(dict(args))
        out[name] = None
    except BaseException as err:
        out[name] = type(err).__name__ + ": " + str(err)
print("RESULT " + json.dumps(out))
"""


def test_random_configs_are_rejected_exactly_when_llamafactory_rejects_them(tmp_path):
    import random

    import yaml

    from lfgate.settings import Settings
    from lfgate.validator import training

    python = _llamafactory_python()
    if python is None:
        oracle_missing("llamafactory is not installed")
    rng = random.Random(20261127)
    cases = {}
    for i in range(40):
        config = {"model_name_or_path": "m", "template": "qwen", "output_dir": str(tmp_path / f"out{i}")}
        for key in rng.sample(sorted(_POOL), rng.randint(2, 7)):
            value = rng.choice(_POOL[key])
            if value is not None:
                config[key] = value
        cases[f"c{i}"] = config
    run = subprocess.run([python, "-c", _DIFF_PROBE], input=json.dumps(cases), capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, run.stderr[-3000:]
    outcome = json.loads(line[len("RESULT "):])
    disagreements = {}
    for name, config in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        loaded = training.load_config(str(path), str(tmp_path), Settings(llamafactory_version="0.9.5"))
        loaded.diagnostics.extend(training.check_config(loaded, Settings(llamafactory_version="0.9.5")))
        ours = {d.code for d in loaded.diagnostics if str(d.severity) == "error" and d.code[:3] in ("TY1", "TY2", "TY3")}
        error = outcome[name]
        agrees = (not error and not ours) or (error and any(EXPECTED.get(c, "\0") in error for c in ours))
        if not agrees:
            disagreements[name] = (config, error, sorted(ours))
    assert not disagreements, disagreements
