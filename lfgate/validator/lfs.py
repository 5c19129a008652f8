"""Git LFS pointer files where the data should be: the repository was cloned without `git lfs pull`."""

from __future__ import annotations

import os
from typing import List, Tuple

from lfgate.readers import guarded
from lfgate.registry import ERROR, rule

# The first line of every pointer file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
POINTER_MAX_BYTES = 1024  # the spec keeps a pointer under 1024 bytes

_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n")

LFS_POINTER = rule(
    "DF025", "git-lfs-pointer", ERROR, "The data file is a Git LFS pointer, not the data",
    why="A repository cloned without Git LFS (or with GIT_LFS_SKIP_SMUDGE=1) holds small text pointers where the "
        "data files should be; LLaMA-Factory fails to parse them as JSON, Parquet or CSV.",
    fix="Run `git lfs pull` (after `git lfs install`) in the repository to fetch the real files.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n', "data/a.json": _POINTER},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
          "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'},
)
CONFIG_POINTER = rule(
    "TY011", "config-lfs-pointer", ERROR, "A YAML config is a Git LFS pointer, not the config",
    why="A repository cloned without Git LFS holds small text pointers where the files tracked by LFS should be. "
        "A pointer is valid YAML (one string), so `llamafactory-cli train` fails on it (`parse_dict` needs a "
        "mapping), and no key of the real config can be checked.",
    fix="Run `git lfs pull` (after `git lfs install`) in the repository to fetch the real file.",
    bad={"train.yaml": _POINTER},
    good={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\n"
                        "finetuning_type: lora\ntemplate: qwen\noutput_dir: saves/q\n"},
    target="train.yaml",
)


def config_pointer(path: str) -> list:
    """TY011 for a YAML that is a pointer: it may be any YAML, a config among them, so it is never passed over."""
    return [CONFIG_POINTER.diag(f"{os.path.abspath(path)} is a Git LFS pointer, not the YAML it stands for: "
                                "LLaMA-Factory cannot train from it and lfgate cannot check it. Run `git lfs pull` "
                                "in the repository to fetch the real file", file=path)]


def is_pointer(path: str) -> bool:
    try:
        if os.path.getsize(path) > POINTER_MAX_BYTES:
            return False
        with guarded.open_regular(path) as f:
            return f.read(len(POINTER_PREFIX)) == POINTER_PREFIX
    except OSError:
        return False


def split_pointers(entry, files: List[str]) -> Tuple[List[str], List]:
    """(the files that hold data, one DF025 finding for the pointers among them)."""
    pointers = [f for f in files if is_pointer(f)]
    if not pointers:
        return files, []
    shown = os.path.abspath(pointers[0]) + (f" and {len(pointers) - 1} more file(s)" if len(pointers) > 1 else "")
    found = LFS_POINTER.diag(f"{shown} is a Git LFS pointer, not the data: LLaMA-Factory cannot parse it. Run "
                             "`git lfs pull` in the repository to fetch the real file", file=pointers[0],
                             line=1, column=1, dataset=entry.name)
    return [f for f in files if f not in pointers], [found]


def pointer_registry(path: str):
    """An unreadable Registry with one DF025 when dataset_info.json itself is a pointer, else None."""
    if not os.path.isfile(path) or not is_pointer(path):
        return None
    from lfgate.validator.model import Registry

    found = LFS_POINTER.diag(f"{os.path.abspath(path)} is a Git LFS pointer, not the registry: LLaMA-Factory cannot "
                             "read it. Run `git lfs pull` in the repository to fetch the real file", file=path, line=1,
                             column=1)
    return Registry(path=path, dataset_dir=os.path.dirname(path), diagnostics=[found], readable=False)
