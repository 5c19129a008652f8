"""Where a run writes: output_dir must not lead out of itself through a symlink.

transformers and peft write dozens of files into output_dir (adapter weights, README.md, tokenizer files,
chat_template.jinja, trainer_state.json, checkpoint-N/ folders) with plain opens that follow links. A link
committed there (`saves/.../running_log.txt -> ~/.bashrc`) would make training overwrite whatever it points to, so
the run is refused before it starts, naming the link. Checked: every entry below output_dir (links are not
followed), and each existing folder on the way to it below the launch directory. A link above the launch directory
(a mount point, a home folder on another disk) is the machine's layout, not the project's.
"""

from __future__ import annotations

import os
from typing import Iterator, Optional

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
