"""Rules that belong to no one file kind."""

from lfgate.registry import ERROR, rule

PATH_NOT_FOUND = rule(
    "LG001", "path-not-found", ERROR,
    "A path given on the command line does not exist",
    why="Nothing can be checked at a path that is not there; a typo in a CI job would otherwise pass silently.",
    fix="Pass an existing file or folder.",
    target="missing.yaml",
    bad={"README.md": "no project here\n"},
    good={"missing.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n"},
)
