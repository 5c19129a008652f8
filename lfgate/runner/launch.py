"""The entry point of each process torchrun starts (`lfgate train` has already checked the config).

    torchrun ... -m lfgate.runner.launch CONFIG [key=value ...]
"""

from __future__ import annotations

import os
import sys


def main(argv=None) -> int:
    from lfgate.overrides import split_overrides
    from lfgate.runner import config as config_mod, devices, recipe

    paths, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    config = config_mod.load(paths[0], overrides)
    machine = devices.detect()
    if machine.kind == "npu":
        import torch_npu  # noqa: F401  (before the process group: HCCL is registered by it)
    precision = devices.choose_precision(machine, bool(config.get("bf16", False)), bool(config.get("fp16", False)))
    try:
        recipe.train(config, machine, precision)
    finally:
        _destroy_process_group()
    return 0


def _destroy_process_group() -> None:
    """Tear down the process group before the interpreter exits, as LLaMA-Factory's run_exp does: otherwise a gloo
    rank can abort at shutdown ("terminate called without an active exception") after a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("LFGATE_CHECKED", "1")
    sys.exit(main())
