"""Checks `lfgate train` runs before launching either backend: what LLaMA-Factory would crash on with packing, and
where the run would write (RN020-RN022). Pure functions of the config and the file system; none imports torch.
"""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional

from lfgate.registry import ERROR, WARNING, Symlink, rule
from lfgate.runner.config import RunConfig
from lfgate.runner.rules import _ARGS, _example, where

PACK_LENGTH = rule(
    "RN020", "packing-cutoff-not-multiple-of-8", ERROR,
    "With packing, a cutoff_len that is not a multiple of 8 crashes LLaMA-Factory at the first step",
    why="Every pack is exactly cutoff_len tokens long; the SFT collator pads input_ids, labels and the attention "
        "mask to a multiple of 8 but not the pack's position_ids (data/collator.py, pad_to_multiple_of=8 when "
        "do_train), so the model stops with `The size of tensor a (64) must match the size of tensor b (61)` after "
        "the data was tokenized and the model loaded. The built-in runner pads the position ids too and trains "
        "(a warning there); with --backend llamafactory it is an error.",
    fix="Use a cutoff_len that is a multiple of 8 (e.g. 1024, 2048, 4096).",
    bad=_example("packing: true\ncutoff_len: 100\n"), good=_example("packing: true\ncutoff_len: 104\n"),
    target="train.yaml", args=_ARGS, command="train",
)
OUTPUT_LINK = rule(
    "RN021", "output-dir-symlink", ERROR,
    "output_dir, or something inside it, is a symlink",
    why="Training writes dozens of files into output_dir (adapter weights, README.md, tokenizer files, "
        "chat_template.jinja, running_log.txt, trainer_log.jsonl, plots, checkpoints), and transformers and peft "
        "follow links when they write: a link committed there overwrites whatever it points to, outside the "
        "project. Links above the launch folder (a mount point) are not checked.",
    fix="Remove the link (or the folder holding it), or set output_dir to a new folder.",
    bad=_example(**{"out/running_log.txt": Symlink("../victim.txt"), "victim.txt": "keep me\n"}),
    good=_example(**{"victim.txt": "keep me\n"}),
    target="train.yaml", args=_ARGS, command="train",
)
NEAT_VARLEN_BATCH = rule(
    "RN022", "neat-packing-flash-attn-batch", ERROR,
    "neat_packing with FlashAttention-2 needs per_device_train_batch_size: 1",
    why="With flash_attn: fa2 (and flash-attn installed), LLaMA-Factory drops the attention mask of a neat pack and "
        "lets the position ids mark the samples, which it does for one pack per batch only: "
        "`assert features['input_ids'].shape[0] == 1, 'bsz should be 1 for neat packing'` (data/collator.py) stops "
        "the first step. The built-in runner does the same.",
    fix="Set per_device_train_batch_size: 1 (raise gradient_accumulation_steps to keep the batch), or use "
        "flash_attn: sdpa (a block-diagonal mask, any batch).",
    bad=_example("neat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 2\n"),
    good=_example("neat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 1\n"),
    target="train.yaml", args=_ARGS, command="train",
)


MULTI_NODE_ADDRESS = rule(
    "RN023", "multi-node-without-master", ERROR,
    "A multi-node run (NNODES > 1) without MASTER_ADDR and MASTER_PORT",
    why="Every node must meet node 0 at one address and port. Without MASTER_ADDR each node looks for node 0 at "
        "127.0.0.1 (itself); without MASTER_PORT each picks its own free port (llamafactory-cli and lfgate alike): "
        "the rendezvous waits until torch's timeout.",
    fix="On every node: export MASTER_ADDR=<node 0's address> MASTER_PORT=<a free port, e.g. 29500>.",
    bad=_example(), good=_example(), target="train.yaml", args=_ARGS, command="train",
    env={"NNODES": "2"}, good_env={"NNODES": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"},
)


def multi_node_problem(env) -> Optional[str]:
    nnodes = str(env.get("NNODES", "1"))
    if not nnodes.isdigit() or int(nnodes) <= 1:
        return None
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
    if missing:
        return (f"NNODES={nnodes} but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: every "
                "node must name node 0's address and one port (export MASTER_ADDR=... MASTER_PORT=... on each)")
    port = str(env["MASTER_PORT"])
    if not port.isdigit() or not 0 < int(port) < 65535:
        return f"MASTER_PORT={port!r} is not a port number (1-65534; the handshake uses the next one)"
    return None


def flash_attn_installed() -> bool:
    """What LLaMA-Factory needs to honour fa2 (attention.py: flash-attn, or an Ascend NPU), without importing it."""
    return importlib.util.find_spec("flash_attn") is not None or importlib.util.find_spec("torch_npu") is not None


def launch_checks(config: RunConfig, builtin: bool, positions: Optional[dict] = None, env=None) -> List:
    """RN020-RN023 for either backend."""
    from lfgate.runner.outputs import links_problem
    from lfgate.runner.packing import packing_enabled

    out = []
    packing, neat = packing_enabled(config)
    cutoff = config.get("cutoff_len", 2048)
    if packing and config.stage == "sft" and isinstance(cutoff, int) and not isinstance(cutoff, bool) \
            and cutoff > 0 and cutoff % 8:
        then = ("the built-in runner pads them and trains, but the project does not run under LLaMA-Factory"
                if builtin else "set cutoff_len to a multiple of 8")
        padded = cutoff + 8 - cutoff % 8
        out.append(PACK_LENGTH.diag(
            f"cutoff_len: {cutoff} with packing: every pack is {cutoff} tokens, padded to {padded} without its "
            f"position ids, so LLaMA-Factory stops at the first step (tensor sizes {padded} and {cutoff}); {then}",
            severity=WARNING if builtin else None, **where(config, "cutoff_len", positions)))
    batch = config.get("per_device_train_batch_size", 8)
    if neat and str(config.get("flash_attn", "auto")) == "fa2" and isinstance(batch, int) and batch > 1:
        here = flash_attn_installed()
        out.append(NEAT_VARLEN_BATCH.diag(
            f"neat_packing with flash_attn: fa2 and per_device_train_batch_size: {batch}: " + (
                "LLaMA-Factory asserts one pack per batch ('bsz should be 1 for neat packing') at the first step"
                if here else "flash-attn is not installed here, so the run falls back to sdpa and trains; where it "
                "is installed, LLaMA-Factory stops at the first step ('bsz should be 1 for neat packing')")
            + "; set the batch to 1 and raise gradient_accumulation_steps, or use flash_attn: sdpa",
            severity=None if here else WARNING, **where(config, "per_device_train_batch_size", positions)))
    nodes = multi_node_problem(os.environ if env is None else env)
    if nodes:
        out.append(MULTI_NODE_ADDRESS.diag(nodes, **where(config, "model_name_or_path", positions)))
    problem = links_problem(config.output_dir)
    if problem:
        key = "output_dir" if "output_dir" in config.values else "model_name_or_path"
        out.append(OUTPUT_LINK.diag(problem, **where(config, key, positions)))
    return out
