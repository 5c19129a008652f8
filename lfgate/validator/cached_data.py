"""LK100-LK101: a `tokenized_path` cache that LLaMA-Factory loads instead of the data, and its fingerprint.

LLaMA-Factory 0.9.5's get_dataset (data/loader.py:287-296): when `tokenized_path` is a non-empty folder it logs
`Loading dataset from disk will ignore other data arguments.` and trains the saved tokens, so `dataset`,
`eval_dataset`, `template` (for the data), `cutoff_len`, `max_samples`, `val_size`, packing and the data files
themselves no longer matter; when it does not exist it tokenizes and saves there (loader.py:330-334).

`lfgate train --backend llamafactory` writes a fingerprint beside a cache its run created
(``<tokenized_path>.lfgate.json``, never inside the folder: LLaMA-Factory takes any non-empty folder for a cache):
the release, the data arguments, each dataset's registry entry and data files, and the tokenizer. `check` then
says when the cache is stale against the current config and data.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

from lfgate import lf_stack
from lfgate.lf_facts import split_names
from lfgate.readers import guarded
from lfgate.registry import INFO, WARNING, rule
from lfgate.validator import train_schema
from lfgate.validator.example_kit import BASE_CONFIG

FORMAT = 1
SUFFIX = ".lfgate.json"
# ModelArguments that change the tokens of a sample (processor sizes, the tokenizer itself); DataArguments all do,
# except these, which only tune how the tokenizing runs or is stored.
MODEL_KEYS = ("model_name_or_path", "model_revision", "use_fast_tokenizer", "split_special_tokens",
              "new_special_tokens", "add_tokens", "add_special_tokens", "image_max_pixels", "image_min_pixels",
              "image_do_pan_and_scan", "crop_to_patches", "video_max_pixels", "video_min_pixels", "video_fps",
              "video_maxlen", "use_audio_in_video", "audio_sampling_rate", "stage")
NOT_DATA = ("tokenized_path", "preprocessing_num_workers", "preprocessing_batch_size", "overwrite_cache", "streaming",
            "buffer_size", "data_shared_file_system", "dataloader_num_workers")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt",
                    "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
                    "preprocessor_config.json", "processor_config.json")
_SAMPLE = 1 << 20  # bytes hashed at each end of a data file: a changed file changes these or its size

_CACHE = {"tok/dataset_dict.json": '{"splits": ["train"]}', "tok/train/state.json": "{}",
          "tok.lfgate.json": '{"format": 1, "arguments": {"cutoff_len": 2048}}\n'}
_PROJECT = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
            "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'}

CACHE_USED = rule(
    "LK100", "tokenized-cache-used", INFO, "`tokenized_path` exists: LLaMA-Factory trains the cache, not the data",
    why="When `tokenized_path` is a non-empty folder, LLaMA-Factory logs `Loading dataset from disk will ignore "
        "other data arguments.` and loads it (data/loader.py:287-296): `dataset`, `template`, `cutoff_len`, "
        "`max_samples`, `val_size` and the data files are not read, so what lfgate found in the data does not "
        "apply to this run. Without a fingerprint (written by `lfgate train`) nothing tells whether the cache "
        "still matches them.",
    fix="Delete the folder to tokenize the current data again, or launch with `lfgate train --backend llamafactory` "
        "so the cache gets a fingerprint `check` can compare.",
    bad={"train.yaml": BASE_CONFIG + "dataset: a\ntokenized_path: tok\n", **_PROJECT,
         **{k: v for k, v in _CACHE.items() if not k.endswith(SUFFIX)}},
    good={"train.yaml": BASE_CONFIG + "dataset: a\ntokenized_path: tok\n", **_PROJECT}, target="train.yaml",
)
CACHE_STALE = rule(
    "LK101", "tokenized-cache-stale", WARNING, "The `tokenized_path` cache no longer matches the config or data",
    why="The fingerprint `lfgate train` wrote beside the cache records the data arguments, the registry entries, "
        "the data files, the tokenizer and the LLaMA-Factory release it was made with. LLaMA-Factory loads the "
        "cache whatever changed since (data/loader.py:287-296), so the run trains the old samples.",
    fix="Delete the cache folder (and its .lfgate.json) so LLaMA-Factory tokenizes the current data again.",
    bad={"train.yaml": BASE_CONFIG + "dataset: a\ntokenized_path: tok\ncutoff_len: 1024\n", **_PROJECT, **_CACHE},
    good={"train.yaml": BASE_CONFIG + "dataset: a\ntokenized_path: tok\n", **_PROJECT, **_CACHE},
    target="train.yaml",
)


def fingerprint_path(cache: str) -> str:
    return os.path.normpath(cache) + SUFFIX


def has_cache(folder: str) -> bool:
    """extras/misc.py has_tokenized_data: a folder with anything in it."""
    try:
        return os.path.isdir(folder) and len(os.listdir(folder)) > 0
    except OSError:
        return False


def _file_digest(path: str) -> Optional[dict]:
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with guarded.open_regular(path) as f:
            digest.update(f.read(_SAMPLE))
            if size > 2 * _SAMPLE:
                f.seek(size - _SAMPLE)
                digest.update(f.read(_SAMPLE))
            elif size > _SAMPLE:
                digest.update(f.read())
    except OSError:
        return None
    return {"size": size, "sha256_ends": digest.hexdigest()}


def _files_of(path: str) -> List[str]:
    if os.path.isfile(path):
        return [path]
    found = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(folder, n) for n in sorted(names) if not n.startswith(".")]
    return found


def current(config, registry, settings) -> Dict[str, Any]:
    """The fingerprint of what the config would tokenize now (registry: the config's parsed dataset_info.json)."""
    props = train_schema.properties()
    args = {key: config.get(key) for key, prop in sorted(props.items())
            if prop.get("x-class") == "DataArguments" and key not in NOT_DATA}
    args.update({key: config.get(key) for key in MODEL_KEYS})
    datasets: Dict[str, Any] = {}
    entries = getattr(registry, "entries", {}) or {}
    for key in ("dataset", "eval_dataset"):
        for name in split_names(config.values.get(key)):
            entry = entries.get(name)
            if entry is None:
                datasets[name] = None
                continue
            files = {}
            local = entry.local_path
            if local and os.path.exists(local):
                for path in _files_of(local):
                    files[os.path.relpath(path, entry.dataset_dir)] = _file_digest(path)
            datasets[name] = {"entry": entry.raw, "files": files}
    return {"format": FORMAT, "llamafactory": lf_stack.stack(settings).version("llamafactory"),
            "arguments": args, "datasets": datasets, "tokenizer": _tokenizer(config)}


def _tokenizer(config) -> Dict[str, Any]:
    model = config.values.get("model_name_or_path")
    if not isinstance(model, str):
        return {}
    folder = config.resolve(os.path.expanduser(model))
    if not os.path.isdir(folder):
        return {"hub_id": model, "revision": config.get("model_revision", "main")}
    return {name: _file_digest(os.path.join(folder, name)) for name in _TOKENIZER_FILES
            if os.path.isfile(os.path.join(folder, name))}


def differences(saved: dict, now: dict) -> List[str]:
    """What changed between two fingerprints, in words."""
    out = []
    if saved.get("llamafactory") and now.get("llamafactory") and saved["llamafactory"] != now["llamafactory"]:
        out.append(f"LLaMA-Factory {saved.get('llamafactory')} -> {now.get('llamafactory')}")
    old_args, new_args = saved.get("arguments") or {}, now.get("arguments") or {}
    for key in sorted(old_args):  # what the fingerprint recorded (a key a later release added is no change)
        if old_args.get(key) != new_args.get(key):
            out.append(f"`{key}` {json.dumps(old_args.get(key))} -> {json.dumps(new_args.get(key))}")
    old_sets, new_sets = saved.get("datasets"), now.get("datasets") or {}
    names = sorted(set(old_sets) | set(new_sets)) if isinstance(old_sets, dict) else []
    for name in names:
        assert isinstance(old_sets, dict)
        old, new = old_sets.get(name), new_sets.get(name)
        if old == new:
            continue
        if name not in old_sets or name not in new_sets:
            out.append(f"dataset `{name}` {'added' if name not in old_sets else 'removed'}")
        elif not isinstance(old, dict) or not isinstance(new, dict) or old.get("entry") != new.get("entry"):
            out.append(f"the registry entry of `{name}`")
        else:
            before, after = old.get("files") or {}, new.get("files") or {}
            changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
            out.append(f"the data of `{name}` ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''})")
    if "tokenizer" in saved and (saved.get("tokenizer") or {}) != (now.get("tokenizer") or {}):
        out.append("the tokenizer")
    return out


def check(config, registry, settings) -> Iterator:
    value = config.values.get("tokenized_path")
    if not isinstance(value, str) or not value or not config.get("do_train", False) and not config.get("do_eval"):
        return
    folder = config.resolve(os.path.expanduser(value))
    if not has_cache(folder):
        return
    where = config.where("tokenized_path")
    ignored = ", ".join(f"`{k}`" for k in ("dataset", "template", "cutoff_len", "max_samples", "val_size")
                        if k in config.values) or "the data arguments"
    saved = _read(fingerprint_path(folder))
    if saved is None:
        yield CACHE_USED.diag(f"`tokenized_path: {value}` is a saved dataset: LLaMA-Factory loads it and ignores "
                              f"{ignored} and the data files (`Loading dataset from disk will ignore other data "
                              "arguments.`), so the data findings do not apply to this run, and nothing tells "
                              "whether the cache still matches them (no fingerprint beside it). Delete the folder to "
                              "tokenize the current data", **where)
        return
    changed = differences(saved, current(config, registry, settings))
    if changed:
        yield CACHE_STALE.diag(f"`tokenized_path: {value}` no longer matches what it was made from: "
                               f"{'; '.join(changed[:6])}{'; ...' if len(changed) > 6 else ''}. LLaMA-Factory loads "
                               "it anyway and trains the old samples. Delete the folder to tokenize again", **where)
    else:
        yield CACHE_USED.diag(f"`tokenized_path: {value}` is a saved dataset, and it matches the config and data "
                              "(its fingerprint): LLaMA-Factory trains it and reads no data file", **where)


def _read(path: str) -> Optional[dict]:
    try:
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            loaded = json.load(f)
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) and loaded.get("format") == FORMAT else None


def write(config, registry, settings, folder: str) -> Optional[str]:
    """Write the fingerprint beside a cache (atomically); its path, or None when the folder holds no cache."""
    from lfgate.safe_write import atomic_write

    if not has_cache(folder):
        return None
    target = fingerprint_path(folder)
    atomic_write(target, json.dumps(current(config, registry, settings), indent=1, sort_keys=True) + "\n",
                 force=True)
    return target


def record_around(launch: Callable[[], int], config, load_registry: Callable[[], Any], settings) -> int:
    """Run ``launch`` (a llamafactory-cli train); when it succeeds and created the config's tokenized_path cache,
    write the cache's fingerprint. The one call the runner makes (commands/train.py loads ``config`` and hands
    ``load_registry``: this module stays below the training package)."""
    value = config.values.get("tokenized_path") if config is not None else None
    folder = config.resolve(os.path.expanduser(value)) if config is not None and isinstance(value, str) and value \
        else None
    existed = folder is not None and has_cache(folder)
    code = launch()
    if code == 0 and folder is not None and not existed:
        written = write(config, load_registry(), settings, folder)
        if written:
            print(f"lfgate: wrote the fingerprint of {value} at {written} (`lfgate check` compares it)")
    return code
