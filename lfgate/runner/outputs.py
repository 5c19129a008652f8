"""Where a run writes: output_dir must not lead out of itself through a symlink.

transformers and peft write dozens of files into output_dir (adapter weights, README.md, tokenizer files,
chat_template.jinja, trainer_state.json, checkpoint-N/ folders) with plain opens that follow links. A link
committed there (`saves/.../running_log.txt -> ~/.bashrc`) would make training overwrite whatever it points to, so
the run is refused before it starts, naming the link. Checked: every entry below output_dir (links are not
followed), and each existing folder on the way to it below the launch directory. A link above the launch directory
(a mount point, a home folder on another disk) is the machine's layout, not the project's.

The weights get the user's umask like every other output: safetensors (0.8 at least) writes each file through a
Rust NamedTempFile that it renames into place, so adapter_model.safetensors lands with mkstemp's 0600 while the
JSON files beside it are 0666 & ~umask (LLaMA-Factory 0.9.5's own output has the same 0600 adapter).
``give_umask_modes`` corrects the weights the run wrote, after each checkpoint and after the final save, without
following a link.
"""

from __future__ import annotations

import os
import time
from typing import Iterator, List, Optional

from lfgate import safe_write

MAX_ENTRIES = 200_000  # a checkpoint-heavy output_dir has thousands; stop walking a hostile tree well before


def _links_on_the_way(output_dir: str, launch_dir: str) -> Iterator[str]:
    target = os.path.abspath(output_dir)
    root = os.path.abspath(launch_dir)
    if os.path.commonpath([target, root]) != root:
        return
    path = root
    for part in os.path.relpath(target, root).split(os.sep):
        if part in ("", "."):
            continue
        path = os.path.join(path, part)
        if os.path.islink(path):
            yield path
            return
        if not os.path.isdir(path):
            return


def _links_inside(output_dir: str) -> Iterator[str]:
    if os.path.islink(output_dir) or not os.path.isdir(output_dir):
        return
    seen = 0
    for folder, dirs, files in os.walk(output_dir, followlinks=False):
        for name in dirs + files:
            seen += 1
            path = os.path.join(folder, name)
            if os.path.islink(path):
                yield path
            if seen > MAX_ENTRIES:
                return


def first_link(output_dir: str, launch_dir: Optional[str] = None) -> Optional[str]:
    for path in _links_on_the_way(output_dir, launch_dir or os.getcwd()):
        return path
    for path in _links_inside(output_dir):
        return path
    return None


def links_problem(output_dir: str, launch_dir: Optional[str] = None) -> Optional[str]:
    """Why the run may not write into output_dir (the first symlink found), or None."""
    link = first_link(output_dir, launch_dir)
    if link is None:
        return None
    try:
        where = os.readlink(link)
    except OSError:
        where = "?"
    return (f"{link} is a symlink (to {where}): training would write through it, outside output_dir. Remove the "
            "link, or choose another output_dir")


WRITTEN_BY_TEMP_FILE = (".safetensors",)  # safetensors' files; everything else is written with a plain open()


def give_umask_modes(folder: str, since: float = 0.0) -> List[str]:
    """Give the weight files written in folder since `since` the mode a plain open() gives (0666 & ~umask) where
    they have a temp file's 0600 (safe_write.give_umask_mode: links are never followed). The files changed."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    paths = [os.path.join(folder, name) for name in names if name.endswith(WRITTEN_BY_TEMP_FILE)]
    return [path for path in paths if safe_write.give_umask_mode(path, since)]


class UmaskModes:
    """The run's start, and a Trainer callback that gives each checkpoint's weights the umask mode once saved."""

    def __init__(self) -> None:
        self.started = time.time() - 1  # a coarse file system clock may stamp a file a little before now

    def callback(self):
        from transformers import TrainerCallback
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        started = self.started

        class CheckpointModes(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
                give_umask_modes(folder, since=started)

        return CheckpointModes()
