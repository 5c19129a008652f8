"""Generate lfgate/schemas/removed_keys.json: LLaMA-Factory keys that a release removed, from its git history.

    python scripts/gen_removed_keys.py GIT_DIR            # e.g. a clone or mirror of hiyouga/LLaMA-Factory
    python scripts/gen_removed_keys.py GIT_DIR --check    # exit 1 when the committed table differs

For every release tag (vX.Y.Z) the script reads the argument dataclasses in `src/*/hparams/*.py` (llmtuner before
0.8, llamafactory since) with `git show`, never checking anything out, and collects their field names. A key that
some release had and the newest release lacks is recorded with the last release that had it and the first that
did not. What replaces it comes from the help text of a key added in that same release when the two are close,
else from REPLACEMENTS below (read from the release's parser code; each names where). The table is data for
lfgate: no LLaMA-Factory code is kept.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lfgate.safe_write import atomic_write  # noqa: E402

OUT = os.path.join(ROOT, "lfgate", "schemas", "removed_keys.json")
_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")

# What a removed key became, where the help texts do not say it: read from the release that removed it
# (train_mm_proj_only: hparams/finetuning_args.py 0.9.2 adds the freeze_* keys; visual_inputs: 0.9.0 derives
# multimodality from the template; use_cache: model/patcher.py sets it).
REPLACEMENTS = {
    "visual_inputs": "a multimodal `template` (qwen2_vl, llava...) implies it: delete the key",
    "train_mm_proj_only": "`freeze_vision_tower`, `freeze_multi_modal_projector` and `freeze_language_model`",
    "use_cache": "LLaMA-Factory sets it itself (model/patcher.py): delete the key",
    "dpo_beta": "`pref_beta`", "orpo_beta": "`pref_beta`", "neft_alpha": "`neftune_noise_alpha`",
    "sft_packing": "`packing`", "name_module_trainable": "`freeze_trainable_modules`",
    "num_layer_trainable": "`freeze_trainable_layers`", "image_resolution": "`image_max_pixels` (a pixel count)",
    "video_resolution": "`video_max_pixels` (a pixel count)", "max_source_length": "`cutoff_len`",
    "max_target_length": "`cutoff_len`", "checkpoint_dir": "`adapter_name_or_path`",
    "system_prompt": "`default_system` or a `system` column",
}


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True).stdout


def releases(git_dir: str) -> List[Tuple[Tuple[int, int, int], str]]:
    tags = []
    for tag in git(git_dir, "tag", "--list", "v*").split():
        match = _TAG.match(tag)
        if match:
            tags.append((tuple(int(x) for x in match.groups()), tag))
    return sorted(tags)


def hparams_files(git_dir: str, tag: str) -> List[str]:
    names = git(git_dir, "ls-tree", "-r", "--name-only", tag).splitlines()
    return [n for n in names if re.match(r"src/[^/]+/hparams/[^/]+\.py$", n)]


def fields_of(source: str) -> Dict[str, Optional[str]]:
    """{field name: help text, None for a field the parser derives} of every argument class in a module."""
    found: Dict[str, str] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef) or "Argument" not in node.name:
            continue  # DatasetAttr and other helpers hold no config keys
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                if item.target.id.startswith("_"):
                    continue
                # field(init=False) is derived by the parser (compute_dtype...): kept, so it never reads as removed
                found.setdefault(item.target.id, None if _not_settable(item.value) else _help(item.value))
    return found


def _not_settable(value) -> bool:
    """field(init=False): derived by the parser, never a config key."""
    if isinstance(value, ast.Call):
        for kw in value.keywords:
            if kw.arg == "init" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                return True
    return False


def _help(value) -> str:
    if not isinstance(value, ast.Call):
        return ""
    for kw in value.keywords:
        if kw.arg == "metadata" and isinstance(kw.value, ast.Dict):
            for key, val in zip(kw.value.keys, kw.value.values):
                if isinstance(key, ast.Constant) and key.value == "help":
                    try:
                        return str(ast.literal_eval(val))
                    except ValueError:
                        return ""
    return ""


def keys_per_release(git_dir: str) -> List[Tuple[str, Dict[str, str]]]:
    out = []
    for _, tag in releases(git_dir):
        keys: Dict[str, str] = {}
        for path in hparams_files(git_dir, tag):
            keys.update(fields_of(git(git_dir, "show", f"{tag}:{path}")))
        if keys:
            out.append((tag[1:], keys))
    return out


def removed_table(history: List[Tuple[str, Dict[str, str]]]) -> Dict[str, dict]:
    newest = history[-1][1]
    table: Dict[str, dict] = {}
    for (version, keys), (next_version, next_keys) in zip(history, history[1:]):
        added = {k: h for k, h in next_keys.items() if k not in keys}
        for key, help_text in keys.items():
            if key in next_keys or key in newest or help_text is None:
                continue
            table[key] = {"last": version, "removed_in": next_version,
                          "replacement": REPLACEMENTS.get(key) or _similar(key, help_text, added)}
    return dict(sorted(table.items()))


def _similar(key: str, help_text: str, added: Dict[str, str]) -> Optional[str]:
    """A key added in the same release whose help text (or name) is close: the likely rename."""
    best, score = None, 0.0
    for new, new_help in added.items():
        ratio = max(difflib.SequenceMatcher(None, help_text or "", new_help or "").ratio() if help_text and new_help
                    else 0.0,
                    difflib.SequenceMatcher(None, key, new).ratio())
        if ratio > score:
            best, score = new, ratio
    return f"`{best}`" if best and score >= 0.8 else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", help="a git directory of hiyouga/LLaMA-Factory (bare or not) with its tags")
    parser.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    parser.add_argument("--out", default=OUT, help="where to write the table (default: lfgate/schemas/)")
    args = parser.parse_args(argv)
    git_dir = args.git_dir
    if os.path.isdir(os.path.join(git_dir, ".git")):
        git_dir = os.path.join(git_dir, ".git")
    history = keys_per_release(git_dir)
    if len(history) < 2:
        print(f"{git_dir}: fewer than two release tags with hparams files", file=sys.stderr)
        return 2
    table = {"source": "hiyouga/LLaMA-Factory release tags, src/*/hparams/*.py (scripts/gen_removed_keys.py)",
             "releases": [v for v, _ in history], "keys": removed_table(history)}
    text = json.dumps(table, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            return 0 if f.read() == text else 1
    atomic_write(args.out, text, force=True)
    print(f"wrote {args.out}: {len(table['keys'])} removed keys over {len(history)} releases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
