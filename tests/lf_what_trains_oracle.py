"""What LLaMA-Factory 0.9.5 (and the TRL, transformers and PEFT beside it) really do, for the issue-22 rules.

Executed only by a Python that has the real `llamafactory` (tests/test_what_trains_vs_llamafactory.py), in a
working folder holding the tiny model `tiny/` (scripts/make_tiny_model.py). stdout: one line `RESULT {json}`,
case name -> what happened (a value, or "ExceptionName: message").
"""

import contextlib
import io
import json
import logging
import os
import sys
from importlib import metadata
from types import SimpleNamespace

os.environ["DISABLE_VERSION_CHECK"] = "1"


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn()


def versions():
    out = {}
    for package in ("llamafactory", "transformers", "trl", "peft", "flash-attn", "liger-kernel", "deepspeed"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def dpo_losses():
    """CustomDPOTrainer.compute_preference_loss per pref_loss, on fixed log-probs: equal to sigmoid or not."""
    import torch
    from llamafactory.train.dpo.trainer import CustomDPOTrainer

    chosen, rejected = torch.tensor([-5.0, -7.0]), torch.tensor([-6.0, -4.0])
    ref_chosen, ref_rejected = torch.tensor([-5.5, -6.0]), torch.tensor([-6.5, -5.0])
    out = {}
    for loss in ("sigmoid", "hinge", "ipo", "kto_pair"):
        trainer = object.__new__(CustomDPOTrainer)
        trainer.__dict__.update(beta=0.1, loss_type=loss, label_smoothing=0.0, reference_free=False,
                                f_divergence_type="reverse_kl", f_divergence_params=None, bco_gemma=0.0,
                                use_weighting=False,
                                finetuning_args=SimpleNamespace(use_ref_model=True),
                                accelerator=SimpleNamespace(device=torch.device("cpu")))
        try:
            losses, _, _ = trainer.compute_preference_loss(chosen, rejected, ref_chosen, ref_rejected)
            out[loss] = [round(float(x), 6) for x in losses]
        except Exception as err:  # noqa: BLE001 - the oracle reports what the library raises
            out[loss] = _error(err)
    return out


def ppo_trl_check():
    """CustomPPOTrainer's TRL requirement, with the installed TRL (the check it makes before anything else)."""
    from transformers.utils.versions import require_version

    try:
        require_version("trl>=0.8.6,<=0.9.6", "PPO")
        return None
    except ImportError as err:
        return _error(err)


def kto_loss_type():
    import inspect

    from llamafactory.train.kto.trainer import CustomKTOTrainer

    return 'self.loss_type = "kto"' in inspect.getsource(CustomKTOTrainer.__init__)


def attention():
    from llamafactory.extras.constants import AttentionFunction
    from llamafactory.model.model_utils.attention import configure_attn_implementation
    from transformers import Qwen2Config

    out = {}
    for name in ("fa2", "fa3", "sdpa"):
        config = Qwen2Config()
        try:
            _quiet(lambda c=config, n=name: configure_attn_implementation(
                c, SimpleNamespace(flash_attn=AttentionFunction(n))))
            out[name] = config._attn_implementation
        except Exception as err:  # noqa: BLE001
            out[name] = _error(err)
    return out


def neat_packing():
    import torch
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.collator import SFTDataCollatorWith4DAttentionMask
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained("tiny")
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen"))
    features = [{"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [1, 2, 3],
                 "images": [], "videos": [], "audios": []} for _ in range(2)]
    out = {}
    for attn in ("flash_attention_2", "sdpa"):
        collator = SFTDataCollatorWith4DAttentionMask(template=template, tokenizer=tokenizer, neat_packing=True,
                                                      block_diag_attn=True, attn_implementation=attn,
                                                      compute_dtype=torch.float32)
        try:
            collator(features)
            out[attn] = None
        except Exception as err:  # noqa: BLE001
            out[attn] = _error(err)
    try:
        SFTDataCollatorWith4DAttentionMask(template=template, tokenizer=tokenizer, neat_packing=True,
                                           attn_implementation="flash_attention_2",
                                           model=SimpleNamespace(config=SimpleNamespace(model_type="gemma4")))
        out["gemma4"] = None
    except Exception as err:  # noqa: BLE001
        out["gemma4"] = _error(err)
    return out


def liger():
    from llamafactory.model.model_utils.liger_kernel import apply_liger_kernel

    out = {}
    for model_type in ("gpt2", "qwen2"):
        try:
            _quiet(lambda t=model_type: apply_liger_kernel(SimpleNamespace(model_type=t),
                                                           SimpleNamespace(enable_liger_kernel=True), True, False))
            out[model_type] = None
        except Exception as err:  # noqa: BLE001
            out[model_type] = _error(err)
    return out


def deepspeed_mismatches(cases):
    """transformers' HfTrainerDeepSpeedConfig on each (ds dict, TrainingArguments kwargs): the mismatch lines."""
    from accelerate.utils.deepspeed import HfDeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    # transformers' own checks (fill_match, trainer_config_process/finalize) on accelerate's config reader: the
    # class needs the deepspeed package only to be constructed, which this venv does not have
    methods = {k: v for k, v in vars(HfTrainerDeepSpeedConfig).items() if k not in ("__init__", "__dict__",
                                                                                    "__weakref__")}
    checker = type("TrainerDeepSpeedConfig", (HfDeepSpeedConfig,), methods)

    out = {}
    for name, (ds, kwargs, steps) in cases.items():
        args = TrainingArguments(output_dir="out", report_to="none", **kwargs)
        config = checker(json.loads(json.dumps(ds)))
        config._dtype, config.mismatches = None, []
        config.trainer_config_process(args)
        try:
            config.trainer_config_finalize(args, SimpleNamespace(config=SimpleNamespace(hidden_size=64)), steps)
            out[name] = []
        except ValueError as err:
            out[name] = [line[len("- ds "):].split("=")[0] for line in str(err).splitlines() if line.startswith("- ds ")]
    return out


def get_dataset(args):
    from llamafactory.data import get_dataset as load, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    def run():
        model_args, data_args, training_args, _, _ = get_train_args(dict(args))
        module = load_tokenizer(model_args)
        template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
        return load(template, model_args, data_args, training_args, stage=args["stage"], **module)

    try:
        dataset = _quiet(run)
        return len(dataset["train_dataset"])
    except Exception as err:  # noqa: BLE001
        return _error(err)


def peft_targets():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = {}
    for targets in (["c_attn"], ["q_proj", "c_attn"], ["q_proj", "v_proj"]):
        model = AutoModelForCausalLM.from_pretrained("tiny")
        try:
            peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=targets))
            out[",".join(targets)] = sorted({n.split(".lora_A")[0].rsplit(".", 1)[-1]
                                             for n, _ in peft_model.named_parameters() if ".lora_A" in n})
        except Exception as err:  # noqa: BLE001
            out[",".join(targets)] = _error(err)
    return out


def launcher(env):
    """The torchrun command llamafactory-cli builds under env (subprocess.run captured)."""
    import subprocess

    from llamafactory import launcher as lf_launcher
    from llamafactory.extras import misc

    seen = {}

    def fake_run(command, env=None, check=False):
        seen["command"] = command
        return SimpleNamespace(returncode=0)

    saved = dict(os.environ)
    os.environ.update(env)
    real_run, real_count = subprocess.run, misc.get_device_count
    subprocess.run, misc.get_device_count = fake_run, lambda: int(env.get("_DEVICES", "1"))
    sys.argv = ["llamafactory-cli", "train", "x.yaml"]
    try:
        _quiet(lf_launcher.launch)
    except SystemExit:
        pass
    except Exception as err:  # noqa: BLE001 - single-process training would start: record that instead
        seen["error"] = _error(err)
    finally:
        subprocess.run, misc.get_device_count = real_run, real_count
        os.environ.clear()
        os.environ.update(saved)
    return seen.get("command") or seen.get("error")


def deepspeed_launcher_args():
    """read_args as the DeepSpeed launcher calls the script: `--local_rank=0` before the YAML."""
    from llamafactory.hparams import get_train_args

    with open("ds_launch.yaml", "w") as f:
        f.write("model_name_or_path: tiny\nstage: sft\ndo_train: true\ndataset: a\noutput_dir: out\n")
    out = {}
    for name, argv in (("deepspeed", ["train.py", "--local_rank=0", "ds_launch.yaml"]),
                       ("torchrun", ["train.py", "ds_launch.yaml"])):
        sys.argv = argv
        try:
            _quiet(get_train_args)
            out[name] = None
        except BaseException as err:  # noqa: BLE001 - SystemExit from the parser included
            out[name] = _error(err)
    return out


def templates():
    from llamafactory.data.template import TEMPLATES, ReasoningTemplate

    out = {}
    for name in ("ernie", "ernie_nothink", "qwen3", "qwen3_nothink"):
        template = TEMPLATES[name]
        out[name] = {"reasoning": isinstance(template, ReasoningTemplate),
                     "user": [str(s) for s in template.format_user.slots]}
    return out


def main():
    logging.disable(logging.CRITICAL)
    cases = json.load(sys.stdin)
    result = {"versions": versions()}
    for name, fn in (("dpo", dpo_losses), ("ppo", ppo_trl_check), ("kto", kto_loss_type), ("attention", attention),
                     ("neat_packing", neat_packing), ("liger", liger), ("peft", peft_targets),
                     ("deepspeed_launcher", deepspeed_launcher_args), ("templates", templates)):
        try:
            result[name] = fn()
        except Exception as err:  # noqa: BLE001
            result[name] = _error(err)
    result["deepspeed"] = deepspeed_mismatches(cases["deepspeed"])
    result["datasets"] = {name: get_dataset(args) for name, args in cases["datasets"].items()}
    result["launcher"] = {name: launcher(env) for name, env in cases["launcher"].items()}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
