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
    recipe.train(config, machine, precision)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LFGATE_CHECKED", "1")
    sys.exit(main())
