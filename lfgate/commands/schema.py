"""Print a JSON Schema lfgate ships: `train` (training YAML keys) or `dataset_info` (dataset_info.json).

Point an editor at it for completion and hover docs: a `# yaml-language-server: $schema=PATH` first line in a
training YAML, or `yaml.schemas` / `json.schemas` in VS Code settings (see the README, "Editors").
"""

from __future__ import annotations

import os
import sys

from lfgate.errors import UsageError

SCHEMAS = {"train": "train.schema.json", "dataset_info": "dataset_info.schema.json"}
FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", default="train", choices=list(SCHEMAS),
                        help="which schema (default: train)")
    parser.add_argument("--path", action="store_true", help="print the schema file's path instead of its text")


def schema_path(name: str) -> str:
    path = os.path.join(FOLDER, SCHEMAS[name])
    if not os.path.isfile(path):
        raise UsageError(f"the {name} schema is missing from this installation ({path}); reinstall lfgate")
    return path


def run(args) -> int:
    path = schema_path(args.name)
    if args.path:
        print(path)
        return 0
    with open(path, encoding="utf-8") as f:
        text = f.read()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
