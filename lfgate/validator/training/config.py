"""The training config as LLaMA-Factory sees it (TrainingConfig), the key sets that recognise one, and
``_y``, which builds the rules' example train.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Tuple

from lfgate.validator import train_schema
from lfgate.validator.example_kit import BASE_CONFIG, config_example

COMMAND_LINE = "<command line>"

# A YAML is a LLaMA-Factory config when it names one of these (accelerate/DeepSpeed/token files do not).
CONFIG_MARKERS = frozenset({"model_name_or_path", "stage", "finetuning_type", "dataset", "template", "do_train",
                            "adapter_name_or_path", "export_dir"})
# The v1 engine (USE_V1=1) has its own parser and keys (examples/v1).
V1_MARKERS = frozenset({"model_class", "peft_config", "train_dataset", "dist_config", "kernel_config",
                        "micro_batch_size", "sample_backend"})
TRAINING_MARKERS = frozenset({"stage", "do_train", "do_eval", "do_predict", "dataset", "eval_dataset", "output_dir"})
# Keys LLaMA-Factory splits on commas (split_arg): a YAML list works as well.
COMMA_LIST_KEYS = frozenset({"dataset", "eval_dataset", "interleave_probs", "lora_target", "oft_target",
                             "additional_target", "freeze_trainable_modules", "freeze_extra_modules",
                             "galore_target", "apollo_target"})
# Read only by chat/api/export (ModelArguments' Export/Vllm/SGLang groups): training accepts and ignores them.
INFER_ONLY_OWNERS = frozenset({"ExportArguments", "VllmArguments", "SGLangArguments"})
INFER_ONLY_KEYS = frozenset({"infer_dtype"})


# The rule modules' example builders, re-exported under their old names (one home: example_kit.py).
BASE = BASE_CONFIG
_y = config_example


@dataclass
class TrainingConfig:
    path: str
    base_dir: str
    values: Dict[str, Any]
    positions: Dict[str, tuple] = field(default_factory=dict)  # top-level key -> (line, column)
    engine: str = "v0"  # v0 (llamafactory-cli train), v1 (USE_V1=1), mca (USE_MCA=1), megatron_bridge
    entry: str = "train"  # train, infer (chat/api), export
    overrides: FrozenSet[str] = frozenset()  # keys set on the command line
    diagnostics: List = field(default_factory=list)  # the file's own (reading.py); check_config adds the rest
    # base_dir is the folder llamafactory-cli is launched from (validator/launch.py); also: the other folders a
    # relative path may be found from (other launches of the config, the folder checked)
    also: Tuple[str, ...] = ()
    origin: str = "yaml"  # yaml, json, board (a LLaMA Board save), block (a mapping under block in a wrapper YAML)
    block: Tuple[str, ...] = ()
    placeholder_keys: FrozenSet[str] = frozenset()  # keys whose values hold `${VAR}` a renderer fills in
    readable: bool = True  # False: not a YAML mapping, so no rule judges its values
    meant_from: Dict[str, str] = field(default_factory=dict)  # a key judged as meant -> its old name as written

    def where(self, *keys: str) -> dict:
        """file/line/column of the first of keys the config sets. A key set on the command line wins: a cross-key
        finding that an override causes points at the command line."""
        if any(key in self.overrides for key in keys):
            return {"file": COMMAND_LINE}
        for key in keys:
            if key in self.positions:
                line, column = self.positions[key]
                return {"file": self.path, "line": line, "column": column}
        for key in keys:  # a key known only under its old name (check.as_meant): the old name's place
            if self.meant_from.get(key) in self.positions:
                line, column = self.positions[self.meant_from[key]]
                return {"file": self.path, "line": line, "column": column}
        return {"file": self.path}

    def get(self, key: str, default: Any = None) -> Any:
        """The value LLaMA-Factory sees: the config's (an explicit null too: parse_dict passes it on), else the
        schema's default, else ``default``. The checker and the runner read a config through this one method."""
        if key in self.values:
            return self.values[key]
        schema_default = (train_schema.properties().get(key) or {}).get("default")
        return schema_default if schema_default is not None else default

    def candidates(self, path: str) -> List[str]:
        """Where a relative path from the config may be: LLaMA-Factory resolves it against the directory it is
        launched from (base_dir, inferred by validator/launch.py), then the other folders it may be launched from,
        then the current directory."""
        if os.path.isabs(path):
            return [path]
        found = []
        for base in (self.base_dir, *self.also, os.getcwd()):
            candidate = os.path.normpath(os.path.join(base, path))
            if candidate not in found:
                found.append(candidate)
        return found

    def resolve(self, path: str) -> str:
        """The first candidate that exists, else the first one."""
        options = self.candidates(path)
        return next((p for p in options if os.path.exists(p)), options[0])

    @property
    def stage(self) -> str:
        return self.get("stage", "sft")
