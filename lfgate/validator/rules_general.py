"""Rules that belong to no one file kind."""

from lfgate.registry import ERROR, rule

PATH_NOT_FOUND = rule(
    "LG001", "path-not-found", ERROR,
    "A path given on the command line does not exist, or is no file",
    why="Nothing can be checked at a path that is not there; a typo in a CI job would otherwise pass silently. A "
        "FIFO, socket or device is never opened (a FIFO blocks until something writes to it, a device never ends): "
        "it is reported the same way, since a path the user named is never skipped silently.",
    fix="Pass an existing file or folder.",
    target="missing.yaml",
    bad={"README.md": "no project here\n"},
    good={"missing.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n"},
)
