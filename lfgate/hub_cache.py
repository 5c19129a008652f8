"""Where a model's files are on this machine, as LLaMA-Factory would load them: never a download.

One home for every lookup of a model's local files (its tokenizer, config.json, weights): `lfgate stats`, the
cutoff_len counts of `check`, and whatever needs a hub id's files. In order:

1. an explicit path (``--tokenizer``);
2. the model folder, when ``model_name_or_path`` is a local path;
3. the Hugging Face cache (``cache_dir``, else ``HF_HUB_CACHE``, ``HF_HOME/hub``, ``~/.cache/huggingface/hub``) at
   ``model_revision``: ``models--OWNER--NAME/refs/REVISION`` -> ``snapshots/COMMIT``; only when neither hub below
   is on;
4. the ModelScope cache when ``USE_MODELSCOPE_HUB`` is on, instead of the Hugging Face cache (LLaMA-Factory then
   replaces a hub id by ModelScope's snapshot folder before anything is loaded, extras/misc.py:294-315
   try_download_model_from_other_hub, model/loader.py:62): ``cache_dir``, else ``MODELSCOPE_CACHE``, else
   ``~/.cache/modelscope``; both layouts of the modelscope SDK (modelscope_hub/_download.py):
   ``models/OWNER--NAME/snapshots/REVISION`` (revision ``master`` for ``main``) and the older
   ``models/OWNER/NA___ME`` (dots as ``___``), also under ``hub/`` (the older default root);
5. the openMind (Modelers) cache when ``USE_OPENMIND_HUB`` is on (and ``USE_MODELSCOPE_HUB`` is not: LLaMA-Factory
   asks ModelScope first), instead of the Hugging Face cache (misc.py:317-328): ``cache_dir``, else
   ``$XDG_CACHE_HOME/openmind/hub``, else ``~/.cache/openmind/hub``, laid out as the Hugging Face cache.

``find(model, names)`` gives the first folder holding one of ``names``, and says where it is (``Found.where``);
``find_model(model)`` the whole model folder (config.json, weights, tokenizer) that every command loads;
``looked(model)`` lists the places tried, for a message that nothing was found. Reads files only: no hub SDK.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Iterator, List, Mapping, Optional, Sequence

from lfgate.lf_facts import env_enabled
from lfgate.readers import guarded

TOKENIZER_JSON_LIMIT = 256 * 1024 * 1024  # read a tokenizer.json only below this size (the largest are ~30 MB)

TOKENIZER_FILES = ("tokenizer.json",)  # what `tokenizers` reads; sentencepiece-only folders are counted by estimate
CONFIG_FILES = ("config.json",)
# what from_pretrained loads the weights from (a sharded checkpoint has its index)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# what a tokenizer and config.json need, without the weights: the dry run and preview download only these
TOKENIZER_PATTERNS = ("*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

EXPLICIT, MODEL_FOLDER, HF_CACHE, MODELSCOPE_CACHE, OPENMIND_CACHE = (
    "--tokenizer", "the model folder", "the Hugging Face cache", "the ModelScope cache", "the openMind cache")


@dataclass(frozen=True)
class Found:
    """A local folder (or file) for the model, and where it came from (one of the constants above)."""

    path: str
    origin: str
    root: str = ""  # the cache folder it lies in, for the message

    def file(self, name: str) -> str:
        return self.path if os.path.isfile(self.path) else os.path.join(self.path, name)

    @property
    def where(self) -> str:
        """`the ModelScope cache (/home/u/.cache/modelscope)`: for the user, with the home folder as ~."""
        shown = _home_short(self.root or self.path)
        return f"{self.origin} ({shown})" if self.origin != EXPLICIT else f"--tokenizer {shown}"


def _home_short(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path


def _env(env: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def is_hub_id(model: object) -> bool:
    """`owner/name` as the hubs spell repository ids (not a path that exists here)."""
    return isinstance(model, str) and model.count("/") == 1 and not model.startswith((".", "/", "~")) \
        and all(part and part not in (".", "..") for part in model.split("/"))


# -- the cache roots -----------------------------------------------------------------------------------------------
def hf_root(cache_dir: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    """huggingface_hub's HF_HUB_CACHE: cache_dir, HF_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub."""
    e = _env(env)
    if cache_dir:
        return os.path.expanduser(cache_dir)
    if e.get("HF_HUB_CACHE"):
        return os.path.expanduser(e["HF_HUB_CACHE"])
    home = e.get("HF_HOME") or os.path.join(e.get("XDG_CACHE_HOME") or os.path.join(_home(e), ".cache"),
                                            "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def modelscope_root(cache_dir: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    e = _env(env)
    return os.path.expanduser(cache_dir or e.get("MODELSCOPE_CACHE") or os.path.join(_home(e), ".cache",
                                                                                      "modelscope"))


def openmind_root(cache_dir: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    e = _env(env)
    if cache_dir:
        return os.path.expanduser(cache_dir)
    return os.path.join(e.get("XDG_CACHE_HOME") or os.path.join(_home(e), ".cache"), "openmind", "hub")


# -- the folders, in order ---------------------------------------------------------------------------------------
def candidates(model: Optional[str], *, revision: Optional[str] = None, cache_dir: Optional[str] = None,
               explicit: Optional[str] = None, resolve: Optional[Callable[[str], str]] = None,
               env: Optional[Mapping[str, str]] = None) -> Iterator[Found]:
    """Every local folder the model's files could be in, in LLaMA-Factory's order (see the module docstring).
    ``resolve`` turns a relative model path into the one LLaMA-Factory opens (the launch folder's)."""
    e = _env(env)
    if explicit:
        yield Found(os.path.expanduser(explicit), EXPLICIT)
        return
    if not isinstance(model, str) or not model.strip():
        return
    model = model.strip()
    local = (resolve or os.path.abspath)(os.path.expanduser(model))
    if os.path.isdir(local):
        yield Found(local, MODEL_FOLDER)
        return  # LLaMA-Factory loads a folder that exists; no hub is asked
    if not is_hub_id(model):
        return
    revision = revision or "main"
    hub = other_hub(e)
    if hub == MODELSCOPE_CACHE:
        yield from _modelscope_layouts(modelscope_root(cache_dir, e), model, revision)
    elif hub == OPENMIND_CACHE:
        yield from _hf_layout(openmind_root(cache_dir, e), model, revision, OPENMIND_CACHE)
    else:
        yield from _hf_layout(hf_root(cache_dir, e), model, revision, HF_CACHE)


def other_hub(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The cache LLaMA-Factory downloads hub ids into instead of Hugging Face's: MODELSCOPE_CACHE when
    USE_MODELSCOPE_HUB is on, else OPENMIND_CACHE when USE_OPENMIND_HUB is on (misc.py:298, 317), else None."""
    e = _env(env)
    if env_enabled("USE_MODELSCOPE_HUB", e):
        return MODELSCOPE_CACHE
    if env_enabled("USE_OPENMIND_HUB", e):
        return OPENMIND_CACHE
    return None


def cache_root(env: Optional[Mapping[str, str]] = None, cache_dir: Optional[str] = None) -> str:
    """The root of the cache a hub id is looked up in (see other_hub)."""
    e = _env(env)
    hub = other_hub(e)
    if hub == MODELSCOPE_CACHE:
        return modelscope_root(cache_dir, e)
    return openmind_root(cache_dir, e) if hub == OPENMIND_CACHE else hf_root(cache_dir, e)


def _hf_layout(root: str, model: str, revision: str, origin: str) -> Iterator[Found]:
    repo = os.path.join(root, "models--" + model.replace("/", "--"))
    snapshots = os.path.join(repo, "snapshots")
    commit = revision if _COMMIT.match(revision) else _read_ref(os.path.join(repo, "refs", revision))
    if commit:
        yield Found(os.path.join(snapshots, commit), origin, root)
    elif revision == "main":  # no refs/main (a copied cache): its one snapshot, when there is exactly one
        found = _subfolders(snapshots)
        if len(found) == 1:
            yield Found(found[0], origin, root)


def _modelscope_layouts(root: str, model: str, revision: str) -> Iterator[Found]:
    owner, name = model.split("/", 1)
    safe = name.replace(".", "___")
    wanted = ("master", "main") if revision in ("main", "master") else (revision,)
    snapshots = os.path.join(root, "models", f"{owner}--{name}", "snapshots")
    for rev in wanted:
        yield Found(os.path.join(snapshots, rev), MODELSCOPE_CACHE, root)
    if revision in ("main", "master"):
        found = _subfolders(snapshots)
        if len(found) == 1:
            yield Found(found[0], MODELSCOPE_CACHE, root)
    # the SDK's older layouts keep no revision (modelscope/hub/utils/utils.py find_reusable_legacy_repo_dir)
    for parts in (("models", owner, safe), ("hub", "models", owner, safe), ("models", owner, name),
                  (owner, safe), (owner, name), ("hub", owner, safe), ("hub", owner, name)):
        yield Found(os.path.join(root, *parts), MODELSCOPE_CACHE, root)


def _read_ref(path: str) -> Optional[str]:
    try:
        ref = guarded.read_text(path, 200).strip()  # regular files only, a commit hash at most
    except (OSError, UnicodeDecodeError):
        return None
    return ref if _COMMIT.match(ref) else None


def _subfolders(path: str) -> List[str]:
    try:
        return sorted(os.path.join(path, n) for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))
    except OSError:
        return []


# -- lookups ---------------------------------------------------------------------------------------------------------
def find(model: Optional[str], names: Sequence[str], **where) -> Optional[Found]:
    """The first candidate folder holding one of ``names`` (a file), as a Found whose path is that file; an
    explicit file path is taken as it is."""
    for found in candidates(model, **where):
        if found.origin == EXPLICIT and os.path.isfile(found.path):
            return found
        for name in names:
            path = os.path.join(found.path, name)
            if os.path.isfile(path):
                return Found(path, found.origin, found.root or found.path)
        if found.origin in (EXPLICIT, MODEL_FOLDER):
            return None  # LLaMA-Factory loads that folder and no other
    return None


def find_model(model: Optional[str], weights: bool = False, **where) -> Optional[Found]:
    """The model's folder on this machine, as LLaMA-Factory loads it: the model folder itself, else the first cache
    folder holding a config.json (and, with ``weights``, the weights: a folder that a tokenizer-only download left
    is not the whole model). Found.path is the folder."""
    for found in candidates(model, **where):
        if found.origin == EXPLICIT:
            return None
        if found.origin == MODEL_FOLDER:
            return found  # LLaMA-Factory loads that folder and no other
        if os.path.isfile(os.path.join(found.path, "config.json")) and \
                (not weights or any(os.path.isfile(os.path.join(found.path, n)) for n in WEIGHT_FILES)):
            return found
    return None


def find_tokenizer(model: Optional[str], **where) -> Optional[Found]:
    """The model's tokenizer.json on this machine (see find)."""
    return find(model, TOKENIZER_FILES, **where)


def find_config(model: Optional[str], **where) -> Optional[Found]:
    """The model's config.json on this machine (see find)."""
    return find(model, CONFIG_FILES, **where)


def looked(model: Optional[str], **where) -> List[str]:
    """The places tried for the model, in words, for a message that nothing was found there."""
    e = _env(where.get("env"))
    if where.get("explicit"):
        return [f"--tokenizer {where['explicit']}"]
    if not is_hub_id(model):
        return [str(MODEL_FOLDER)] if model else []
    return [f"{other_hub(e) or HF_CACHE} ({_home_short(cache_root(e, where.get('cache_dir')))})"]


def where_from_config(values: Mapping[str, object], resolve: Optional[Callable[[str], str]] = None) -> dict:
    """The keyword arguments of find/candidates that a training config's keys give (model_revision, cache_dir)."""
    revision = values.get("model_revision")
    cache_dir = values.get("cache_dir")
    return {"revision": revision if isinstance(revision, str) and revision else None,
            "cache_dir": cache_dir if isinstance(cache_dir, str) and cache_dir else None, "resolve": resolve}
