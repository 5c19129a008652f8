"""The LoRA SFT recipe, top to bottom: tokenizer and template, samples, model and adapter, Trainer, outputs.

Each step does what LLaMA-Factory 0.9.5's SFT workflow does for the same YAML (train/sft/workflow.py,
model/loader.py, model/adapter.py, hparams/parser.py), minus what the runner refuses up front (see
commands/train.py). Heavy imports stay inside functions: `lfgate check` never loads this module's deps.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from lfgate import hub_cache
from lfgate.lf_facts import env_enabled
from lfgate.readers import guarded
from lfgate.runner import data as data_mod
from lfgate.runner.config import RunConfig
from lfgate.runner.devices import Machine, Precision, distributed_backend
from lfgate.runner.runlog import RunLog, is_rank_zero
from lfgate.runner.templates import Template, fix_chat_template, fix_tokenizer, get_template
from lfgate.runner.tokenize import IGNORE_INDEX, DataOptions, encode_sample

CHECKPOINT_NAMES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin",
                    "training_args.bin")



# -- 1. model location, tokenizer and template ----------------------------------------------------------------
def model_path(config: RunConfig, weights: bool = True) -> str:
    """A local folder, or a hub id. With USE_MODELSCOPE_HUB / USE_OPENMIND_HUB a hub id is that hub's, as in
    LLaMA-Factory (extras/misc.py:294-328): its local cache first (hub_cache.find_model), else a download with its
    SDK, imported only then. Without `weights` (the tokenizer and config.json: preview, the dry run) the download
    leaves the weights out."""
    name = str(config.values.get("model_name_or_path") or "")
    found = model_found(config, weights)
    if found is not None:
        return found.path
    if os.path.exists(name) or hub_cache.other_hub() is None:
        return name  # transformers resolves hub ids itself (the Hugging Face cache, else a download)
    revision = config.get("model_revision", "main")
    if env_enabled("USE_MODELSCOPE_HUB"):
        try:
            from modelscope import snapshot_download
        except ImportError:
            raise data_mod.DataError("USE_MODELSCOPE_HUB is set but modelscope is not installed: "
                                     "pip install modelscope") from None
        return _download(snapshot_download, "allow_file_pattern", weights, name,
                         revision="master" if revision == "main" else revision,
                         cache_dir=config.values.get("cache_dir"))
    try:
        from openmind.utils.hub import snapshot_download
    except ImportError:
        raise data_mod.DataError("USE_OPENMIND_HUB is set but openmind is not installed: "
                                 "pip install openmind") from None
    return _download(snapshot_download, "allow_patterns", weights, name, revision=revision,
                     cache_dir=config.values.get("cache_dir"))


def _download(snapshot_download, patterns_key: str, weights: bool, name: str, **kwargs) -> str:
    """The SDK's snapshot; without `weights`, only the tokenizer and config files where the SDK can filter (an
    older one without the keyword downloads everything)."""
    if not weights:
        try:
            return snapshot_download(name, **kwargs, **{patterns_key: list(hub_cache.TOKENIZER_PATTERNS)})
        except TypeError:
            pass
    return snapshot_download(name, **kwargs)


def model_found(config: RunConfig, weights: bool = False) -> Optional[hub_cache.Found]:
    """The hub id's folder in the ModelScope / openMind cache when LLaMA-Factory would take it from there."""
    name = str(config.values.get("model_name_or_path") or "")
    if hub_cache.other_hub() is None or os.path.exists(name):
        return None
    return hub_cache.find_model(name, weights, **hub_cache.where_from_config(config.values))


def model_origin(config: RunConfig, weights: bool = False) -> Optional[str]:
    """`model Qwen/Qwen2.5-7B from the ModelScope cache (~/.cache/modelscope): models/Qwen/Qwen2___5-7B`, when
    the model comes from the ModelScope / openMind cache."""
    found = model_found(config, weights)
    if found is None:
        return None
    inside = os.path.relpath(found.path, found.root) if found.root else found.path
    return f"model {config.values.get('model_name_or_path')} from {found.where}: {inside}"


def hub_problem(config: RunConfig, weights: bool = False) -> Optional[str]:
    """Why the model cannot be fetched from here (one short probe, runner/hub.py), or None. `weights`: training
    needs them, preview and the dry run only the tokenizer and config.json."""
    from lfgate.runner.hub import hub_problem as probe

    return probe(str(config.values.get("model_name_or_path") or ""), config.values.get("cache_dir"),
                 config.values.get("model_revision"), weights)


def load_tokenizer(config: RunConfig, trust_remote_code: Optional[bool] = None):
    """trust_remote_code: None takes the YAML's (training); the dry run and preview pass False unless the
    command line says --trust-remote-code, so that they never run the model folder's code."""
    from transformers import AutoTokenizer

    trust = bool(config.get("trust_remote_code", False)) if trust_remote_code is None else trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(
        model_path(config, weights=False), use_fast=bool(config.get("use_fast_tokenizer", True)), padding_side="right",
        trust_remote_code=trust, cache_dir=config.values.get("cache_dir"),
        revision=config.get("model_revision", "main"))
    problem = tokenizer_problem(tokenizer)
    if problem:
        raise data_mod.DataError(f"{model_path(config, weights=False)}: {problem}")
    return tokenizer


def tokenizer_problem(tokenizer) -> Optional[str]:
    """An empty tokenizer (a folder with config.json but no tokenizer files loads one in transformers 5)."""
    try:
        size = len(tokenizer)
    except Exception:
        size = 0
    if size < 2 or not tokenizer.encode("hello world", add_special_tokens=False):
        return (f"the tokenizer is empty ({size} tokens; no tokenizer.json, tokenizer.model or vocab file?): "
                "every sample would encode to nothing and the run would learn nothing. Copy the tokenizer files "
                "into the model folder")
    return None


def build_template(config: RunConfig, tokenizer) -> Tuple[Template, List[str]]:
    template = get_template(config.values.get("template"), default_system=config.values.get("default_system"),
                            tool_format=config.values.get("tool_format"),
                            enable_thinking=config.get("enable_thinking", True))
    notes = fix_tokenizer(tokenizer, template)
    fix_chat_template(tokenizer, template)  # after fix_tokenizer: the jinja writes out its eos token
    return template, notes


def data_options(config: RunConfig) -> DataOptions:
    """The encoding options; with packing, cutoff_len is one less than the YAML's (packing.encode_cutoff)."""
    from lfgate.runner.packing import encode_cutoff, packing_enabled

    cutoff = encode_cutoff(int(config.get("cutoff_len", 2048)), packing_enabled(config)[0])
    return DataOptions(cutoff_len=cutoff,
                       train_on_prompt=bool(config.get("train_on_prompt", False)),
                       mask_history=bool(config.get("mask_history", False)))


# -- 2. samples -> features ---------------------------------------------------------------------------------------
def tokenize(samples, tokenizer, template: Template, options: DataOptions) -> List[dict]:
    features = []
    for sample in samples:
        input_ids, labels = encode_sample(tokenizer, template, sample.prompt, sample.response, sample.system,
                                          sample.tools, options)
        features.append({"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels})
    return features


def training_features(config: RunConfig, samples, features: List[dict], pad_token_id: int) -> List[dict]:
    """The features the Trainer sees: the encoded samples, or their packs when packing is on (packing.py), built
    per preprocessing batch as LLaMA-Factory's datasets.map cuts them."""
    from lfgate.runner.packing import pack, packing_enabled

    packing, neat = packing_enabled(config)
    if not packing or not features:
        return features
    rows = [sample.row for sample in samples]
    n_rows = max(max(rows) + 1, getattr(samples, "n_rows", 0))  # data.Split knows its dropped rows too
    return pack(features, rows, n_rows, int(config.get("cutoff_len", 2048)), pad_token_id, neat,
                batch_size=config.get("preprocessing_batch_size", 1000),
                num_proc=config.values.get("preprocessing_num_workers"))


UNKNOWN_SHARE = 0.5  # a sample more than half unknown tokens is text the tokenizer cannot represent


def encoding_problem(tokenizer, samples, features) -> Optional[str]:
    """Samples that encode to no content token (only the template's special tokens), or mostly to the unknown
    token: a tokenizer that does not fit the data, so the run would learn nothing from them."""
    unk = getattr(tokenizer, "unk_token_id", None)
    special = set(getattr(tokenizer, "all_special_ids", []) or []) - {unk}
    empty, unknown = [], []
    for sample, feature in zip(samples, features):
        content = [t for t in feature["input_ids"] if t not in special]
        if not content:
            empty.append(sample)
        elif unk is not None:
            share = sum(1 for t in content if t == unk) / len(content)  # of the text's tokens, not the template's
            if share > UNKNOWN_SHARE:
                unknown.append(sample)
    if empty:
        first = empty[0]
        return (f"{len(empty)} of {len(features)} samples encode to no content token, only the template's special "
                f"tokens (first: {first.dataset} sample {first.index}): the tokenizer does not represent the data; "
                "check that the model folder has the right tokenizer files")
    if unknown:
        first = unknown[0]
        return (f"{len(unknown)} of {len(features)} samples are mostly the unknown token "
                f"(first: {first.dataset} sample {first.index}): the tokenizer does not cover the data's script")
    return None


def untrained_samples(features) -> int:
    """Samples whose labels are all masked (nothing of them is trained)."""
    return sum(1 for f in features if all(x == IGNORE_INDEX for x in f["labels"]))


# -- 3. model and adapter -----------------------------------------------------------------------------------------
def linear_module_names(model) -> List[str]:
    """`lora_target: all`: every linear layer but the output head (model_utils/misc.py find_all_linear_modules)."""
    forbidden = {"lm_head"}
    model_type = getattr(model.config, "model_type", None)
    if model_type == "chatglm":
        forbidden.add("output_layer")
    elif model_type == "internlm2":
        forbidden.add("output")
    names = set()
    for name, module in model.named_modules():
        if any(f in name for f in forbidden):
            continue
        cls = module.__class__.__name__
        if "Linear" in cls and "Embedding" not in cls:
            names.add(name.split(".")[-1])
    return sorted(names)


def lora_config(config: RunConfig, target_modules: List[str]):
    from peft import LoraConfig, TaskType

    # peft types lora_alpha as int; any number works (`unused-ignore`: without peft installed it is Any)
    return LoraConfig(task_type=TaskType.CAUSAL_LM, inference_mode=False, r=config.lora_rank,
                      lora_alpha=config.lora_alpha,  # type: ignore[arg-type, unused-ignore]
                      lora_dropout=float(config.get("lora_dropout", 0.0)),
                      target_modules=target_modules, use_rslora=bool(config.get("use_rslora", False)),
                      use_dora=bool(config.get("use_dora", False)), modules_to_save=config.additional_target)


def attn_implementation(config: RunConfig) -> Optional[str]:
    """`flash_attn` as LLaMA-Factory maps it (model_utils/attention.py configure_attn_implementation): auto leaves
    transformers' choice (sdpa), disabled is eager, fa2 needs flash-attn (or an Ascend NPU) and else falls back."""
    choice = str(config.get("flash_attn", "auto"))
    if choice == "disabled":
        return "eager"
    if choice == "sdpa":
        return "sdpa"
    if choice == "fa2":
        from transformers.utils import is_flash_attn_2_available, is_torch_npu_available

        return "flash_attention_2" if is_flash_attn_2_available() or is_torch_npu_available() else None
    return None


def load_model(config: RunConfig, precision: Precision, tokenizer, checkpointing: Optional[bool] = None):
    """checkpointing: None follows the config (the rehearsal tries the other way)."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision.dtype]
    kwargs = dict(trust_remote_code=bool(config.get("trust_remote_code", False)),
                  cache_dir=config.values.get("cache_dir"), revision=config.get("model_revision", "main"))
    attention = attn_implementation(config)
    if attention:
        kwargs["attn_implementation"] = attention
    # `dtype` since transformers 4.56; older versions would store an unknown `dtype` in the config and load fp32
    kwargs["dtype" if _transformers_at_least(4, 56) else "torch_dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(model_path(config), **kwargs)
    # a Tensor's shape (`unused-ignore`: without torch installed it is Any)
    rows = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index, unused-ignore]
    if len(tokenizer) > rows:
        if not config.get("resize_vocab", False):
            raise data_mod.DataError(f"the tokenizer has {len(tokenizer)} tokens but the model's embeddings "
                                     f"{rows}: set resize_vocab: true")
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    model.config.use_cache = False
    checkpointing = config.gradient_checkpointing if checkpointing is None else checkpointing
    if checkpointing and getattr(model, "supports_gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.enable_input_require_grads()
    targets = config.lora_target
    if "all" in targets:
        targets = linear_module_names(model)
    model = get_peft_model(model, lora_config(config, targets))
    for param in model.parameters():  # trainable weights in fp32, as LLaMA-Factory does (unless pure_bf16)
        if param.requires_grad:
            param.data = param.data.to(torch.float32)
    return model


def _transformers_at_least(major: int, minor: int) -> bool:
    import transformers

    parts = transformers.__version__.split(".")
    return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (major, minor)


# -- 4. Trainer ---------------------------------------------------------------------------------------------------
def training_arguments(config: RunConfig, precision: Precision, has_eval: bool, machine_kind: str = "cpu"):
    from transformers import TrainingArguments

    from lfgate.runner.config import is_training_argument

    fields = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    kwargs = {k: v for k, v in config.values.items() if k in fields and is_training_argument(k)}
    kwargs.pop("gradient_checkpointing", None)  # load_model turns it on in the model itself
    kwargs.update(output_dir=config.output_dir, bf16=precision.dtype == "bf16", fp16=precision.dtype == "fp16",
                  disable_tqdm=True, remove_unused_columns=False, label_names=["labels"])
    if machine_kind == "cpu":
        kwargs.setdefault("dataloader_pin_memory", False)
        # Without use_cpu, accelerate sees no accelerator and sets DistributedType.NO under torchrun: the model is
        # not wrapped in DDP, gradients are never averaged, num_items_in_batch is not gathered, and the Trainer's
        # `loss *= num_processes` (average_tokens_across_devices) doubles the logged loss and grad_norm on 2
        # processes (accelerate state.py _prepare_backend: MULTI_CPU only with cpu=True; benchmarks/README.md).
        kwargs["use_cpu"] = True
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: gloo on CPU (else no process group), hccl, nccl
        kwargs.setdefault("ddp_backend", distributed_backend(machine_kind))
    kwargs.setdefault("report_to", "none")
    kwargs.setdefault("ddp_find_unused_parameters", False)  # LoRA: LLaMA-Factory sets this for DDP
    kwargs.pop("resume_from_checkpoint", None)
    if not has_eval:
        kwargs["eval_strategy"] = "no"
        kwargs.pop("do_eval", None)
    elif kwargs.get("eval_strategy", "no") == "no" and "eval_steps" in kwargs:
        kwargs["eval_strategy"] = "steps"
    return TrainingArguments(**kwargs)


def resume_checkpoint(config: RunConfig) -> Optional[str]:
    """LLaMA-Factory's rule (hparams/parser.py): resume from the last checkpoint in output_dir unless told not to."""
    from transformers.trainer_utils import get_last_checkpoint

    explicit = config.values.get("resume_from_checkpoint")
    if explicit:
        return str(explicit)
    out = config.output_dir
    if not os.path.isdir(out) or config.values.get("overwrite_output_dir"):
        return None
    last = get_last_checkpoint(out)
    if last is None and any(os.path.isfile(os.path.join(out, n)) for n in CHECKPOINT_NAMES):
        raise data_mod.DataError(f"{out} already holds a trained model and no checkpoint: "
                                 "set overwrite_output_dir: true or choose another output_dir")
    return last


@dataclass
class RunData:
    """What the Trainer gets from the data: the tokenizer, and the features (packs when packing is on)."""

    tokenizer: Any
    train_samples: list
    eval_samples: list
    train_set: List[dict]
    eval_set: Optional[List[dict]]


def set_cpu_threads(config: RunConfig, machine: Machine, log: RunLog) -> None:
    """One intra-op thread for a small model on the CPU (devices.cpu_threads says why); OMP_NUM_THREADS wins."""
    import json

    from lfgate.runner.devices import cpu_threads

    if machine.kind != "cpu":
        return
    folder = model_path(config, weights=False)
    try:
        with guarded.open_regular(os.path.join(folder, "config.json"), "r", encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError, TypeError):
        return
    threads = cpu_threads(info if isinstance(info, dict) else None, os.environ)
    if threads is not None:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
            log.say(f"cpu: {threads} thread for this small model (set OMP_NUM_THREADS to choose)")


def preload_plotting(config: RunConfig):
    """Import matplotlib in a thread while the model trains (the loop leaves a core and the GIL mostly free), so
    that plot_loss does not add the import after training. Returns the thread, or None."""
    if not config.get("plot_loss", False) or not is_rank_zero():
        return None
    import threading

    def load():
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        except Exception:  # plot_loss reports a missing matplotlib itself
            pass

    thread = threading.Thread(target=load, name="lfgate-import-matplotlib", daemon=True)
    thread.start()
    return thread


def quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # our own progress display is enough
    warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6.*")  # peft <-> transformers 5


def prepare_data(config: RunConfig, log: RunLog, dataset_dir: Optional[str] = None, samples=None) -> RunData:
    """Tokenizer, template, samples, features: steps 1 and 2. samples: (train, eval) already read, else read here."""
    from lfgate.runner.packing import packing_enabled

    reach = hub_problem(config, weights=True)
    if reach:  # one short probe instead of Hugging Face's retry loops
        raise data_mod.DataError(reach)
    origin = model_origin(config, weights=True)
    if origin:
        log.say(origin)
    tokenizer = load_tokenizer(config)
    template, notes = build_template(config, tokenizer)
    for note in notes:
        log.say(f"tokenizer: {note}")
    train_samples, eval_samples = samples or data_mod.load_samples(config, dataset_dir)
    if not train_samples:
        raise data_mod.DataError("no valid sample to train on (LLaMA-Factory: Cannot find valid samples)")
    options = data_options(config)
    encoded = tokenize(train_samples, tokenizer, template, options)
    problem = encoding_problem(tokenizer, train_samples, encoded)
    if problem:
        raise data_mod.DataError(problem)
    train_set = training_features(config, train_samples, encoded, tokenizer.pad_token_id)
    eval_set = None
    if eval_samples:
        eval_set = training_features(config, eval_samples, tokenize(eval_samples, tokenizer, template, options),
                                     tokenizer.pad_token_id)
    packed = packing_enabled(config)[0]
    line = f"data: {len(train_samples)} training samples"
    if packed:
        line += f" in {len(train_set)} packs of {config.get('cutoff_len', 2048)} tokens"
    if eval_set:
        line += f", {len(eval_samples)} for evaluation" + (f" ({len(eval_set)} packs)" if packed else "")
    log.say(line)
    return RunData(tokenizer, list(train_samples), list(eval_samples or []), train_set, eval_set)


def make_trainer(config: RunConfig, model, args, data: RunData, precision: Precision, callbacks=()):
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from lfgate.runner.collate import Collator
    from lfgate.runner.packing import packing_enabled

    collator = Collator(data.tokenizer.pad_token_id, neat_packing=packing_enabled(config)[1],
                        attn_implementation=str(getattr(model.config, "_attn_implementation", None) or "sdpa"),
                        compute_dtype=precision.dtype)
    tokenizer_kwarg = "processing_class" if _transformers_at_least(4, 46) else "tokenizer"
    trainer = Trainer(model=model, args=args, train_dataset=data.train_set, eval_dataset=data.eval_set,
                      data_collator=collator, **{tokenizer_kwarg: data.tokenizer}, callbacks=list(callbacks))
    for callback in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(callback)
    return trainer


def train(config: RunConfig, machine: Machine, precision: Precision, dataset_dir: Optional[str] = None,
          samples=None, stream=None) -> dict:
    """Run the whole recipe; returns the train metrics. samples: (train, eval) already read, else read here.
    running_log.txt ends with what stopped the run when it did not finish (runlog.RunLog.until_stopped)."""
    log = RunLog()
    with log.until_stopped():
        return _train(config, machine, precision, dataset_dir, samples, stream, log)


def _train(config: RunConfig, machine: Machine, precision: Precision, dataset_dir: Optional[str], samples,
           stream, log: RunLog) -> dict:
    import transformers

    from lfgate.runner.outputs import UmaskModes, give_umask_modes, links_problem
    from lfgate.runner.progress import Progress, RunningLog, TrainerLog

    quiet_transformers()
    set_cpu_threads(config, machine, log)
    transformers.set_seed(int(config.get("seed", 42)))
    problem = links_problem(config.output_dir)
    if problem:  # `lfgate train` refuses this before launch (RN021); a process torchrun started checks again
        raise data_mod.DataError(problem)
    data = prepare_data(config, log, dataset_dir, samples)

    resume = resume_checkpoint(config)
    args = training_arguments(config, precision, has_eval=bool(data.eval_set), machine_kind=machine.kind)
    log.open(args.output_dir)
    model = load_model(config, precision, data.tokenizer)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.say(f"model: {trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.4f}%), "
            f"{precision.dtype} on {machine.kind}" + (f", resuming from {resume}" if resume else ""))

    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
    modes = UmaskModes()
    trainer = make_trainer(config, model, args, data, precision,
                           callbacks=[TrainerLog(args.output_dir), Progress(batch, stream=stream), RunningLog(log),
                                      modes.callback()])
    plotting = preload_plotting(config)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    give_umask_modes(args.output_dir, since=modes.started)
    if trainer.is_world_process_zero():  # the other ranks (on other nodes, other disks) write no outputs
        data.tokenizer.save_pretrained(args.output_dir)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    metrics = dict(result.metrics)
    if data.eval_set and args.do_eval:
        eval_metrics = trainer.evaluate(metric_key_prefix="eval")
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    if trainer.is_world_process_zero() and config.get("plot_loss", False):
        if plotting is not None:
            plotting.join()
        plot_loss(args.output_dir, ["loss", "eval_loss"] if data.eval_set else ["loss"], log)
    log.say(f"done: {', '.join(f'{k} {v:.6g}' if isinstance(v, float) else f'{k} {v}' for k, v in metrics.items())}")
    log.close()
    return metrics


# -- 5. outputs ---------------------------------------------------------------------------------------------------
def plot_loss(output_dir: str, keys: List[str], log: Optional[RunLog] = None) -> List[str]:
    """training_loss.png (and training_eval_loss.png) from trainer_state.json, like extras/ploting.py. Each image is
    written atomically (a committed link in its place is replaced, never followed)."""
    import io
    import json

    from lfgate import safe_write

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        (log or RunLog()).say("plot_loss: matplotlib is not installed (pip install matplotlib); no plot written")
        return []
    with open(os.path.join(output_dir, "trainer_state.json"), encoding="utf-8") as f:
        history = json.load(f)["log_history"]
    written = []
    for key in keys:
        steps = [h["step"] for h in history if key in h]
        values = [h[key] for h in history if key in h]
        if not values:
            continue
        plt.figure()
        plt.plot(steps, values, color="#1f77b4", alpha=0.4, label="original")
        plt.plot(steps, _smooth(values), color="#1f77b4", label="smoothed")
        plt.title(f"training {key} of {output_dir}")
        plt.xlabel("step")
        plt.ylabel(key)
        plt.legend()
        path = os.path.join(output_dir, "training_{}.png".format(key.replace("/", "_")))
        image = io.BytesIO()
        plt.savefig(image, format="png", dpi=100)
        plt.close()
        safe_write.atomic_write(path, image.getvalue(), force=True)
        written.append(path)
    return written


def _smooth(values: List[float]) -> List[float]:
    """LLaMA-Factory's EMA smoothing (extras/ploting.py)."""
    if not values:
        return []
    weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    last, out = values[0], []
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out
