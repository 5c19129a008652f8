"""The model family of a config's model, from a local config.json or from its hub id, and the rules that need it.

The data is lfgate/schemas/model_families.json (scripts/gen_model_families.py): each architecture's module leaf
names and processor class per transformers version (built from transformers' own model classes), and, for every
hub id of LLaMA-Factory's model registry (extras/constants.py register_model_group), its template, multimodal
flag and architecture. CI has no weights and users write hub ids, so the hub id is often all there is to go by.

Rules: LK030 (lora_target names this family does not have; links.py calls ``check_lora_target``); TY423
(training/model_loading.py) asks ``processor_problem`` about a hub id.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Tuple

from lfgate import lf_stack
from lfgate.lf_facts import looks_like_local_path, split_names
from lfgate.readers import guarded
from lfgate.registry import ERROR, rule
from lfgate.validator import train_schema
from lfgate.validator.example_kit import BASE_CONFIG

_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "model_families.json")


@functools.lru_cache(maxsize=1)
def data() -> dict:
    with open(_DATA, encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class Family:
    model_types: Tuple[str, ...]  # () when the architecture is not known
    source: str  # how it was found, said in messages
    hub: Optional[dict] = None  # the registry's entry, for a hub id LLaMA-Factory registers
    folder: Optional[str] = None  # the local model folder, when there is one


def _read_json(path: str) -> Optional[dict]:
    try:
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            loaded = json.load(f)
        return loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        return None


def family(config) -> Optional[Family]:
    """The config's model family: a local folder's config.json, else the registry's entry for its hub id."""
    model = config.values.get("model_name_or_path")
    if not isinstance(model, str) or not model.strip():
        return None
    folder = config.resolve(os.path.expanduser(model))
    if os.path.isdir(folder):
        info = _read_json(os.path.join(folder, "config.json"))
        if info is None:
            return None
        model_type = info.get("model_type")
        types = (model_type,) if isinstance(model_type, str) and model_type else ()
        return Family(types, f"{folder}/config.json has model_type {model_type}", folder=folder)
    if looks_like_local_path(model):
        return None  # a missing folder (LK033), not a hub id
    entry = data()["hub_ids"].get(model.strip().rstrip("/").lower())
    if entry is None:
        return None
    types = tuple(entry["architectures"])
    what = f"architecture {', '.join(types)}" if types else "an architecture lfgate does not know"
    return Family(types, f"LLaMA-Factory's model registry lists {model} ({entry['name']}; {what})", hub=entry)


def _version_key(version: str) -> Tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def modules(model_type: str, transformers_version: Optional[str]) -> Optional[FrozenSet[str]]:
    """The module leaf names of an architecture under that transformers (the table of the same major version
    closest to it; the newest when unknown), or None when transformers does not have the architecture."""
    entry = data()["architectures"].get(model_type)
    if entry is None:
        return None
    tables: Dict[str, str] = entry["modules"]
    chosen = _closest(sorted(tables, key=_version_key), transformers_version)
    return frozenset(tables[chosen].split(","))


def _closest(versions: List[str], wanted: Optional[str]) -> str:
    if not wanted:
        return versions[-1]
    key = _version_key(wanted)
    same = [v for v in versions if _version_key(v)[:1] == key[:1]] or versions
    return min(same, key=lambda v: tuple(abs(a - b) for a, b in zip(_version_key(v), key)))


def linear_modules(model_type: str, transformers_version: Optional[str]) -> FrozenSet[str]:
    """The names of the modules LoRA can wrap (Linear, Conv1D, Embedding...): what messages suggest."""
    tables: Dict[str, str] = (data()["architectures"].get(model_type) or {}).get("linear") or {}
    if not tables:
        return frozenset()
    chosen = _closest(sorted(tables, key=_version_key), transformers_version)
    return frozenset(filter(None, tables[chosen].split(",")))


@functools.cache
def registry_templates(model_type: str) -> FrozenSet[str]:
    """The templates LLaMA-Factory's registry pairs with the hub ids of this architecture."""
    return frozenset(e["template"] for e in data()["hub_ids"].values()
                     if e["template"] and model_type in e["architectures"])


def architecture(model_type: str) -> Optional[dict]:
    return data()["architectures"].get(model_type)


# ----------------------------------------------------------------------------------------------------------------
# lora_target
# ----------------------------------------------------------------------------------------------------------------
_REG = '{"a": {"file_name": "a.json"}}\n'
_RECORDS = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'


def _project(extra: str, model: str = "Qwen/Qwen2.5-0.5B-Instruct", files=None) -> dict:
    base = BASE_CONFIG.replace("Qwen/Qwen2.5-0.5B-Instruct", model)
    return {"train.yaml": base + "dataset: a\n" + extra, "data/dataset_info.json": _REG, "data/a.json": _RECORDS,
            **(files or {})}


LORA_TARGET = rule(
    "LK030", "lora-target-not-in-model", ERROR, "A `lora_target` module the model does not have",
    why="PEFT matches each `lora_target` name against the model's module names after the weights loaded: when none "
        "matches it raises `Target modules {...} not found in the base model` (peft/tuners/tuners_utils.py); names "
        "that match nothing while others match are dropped in silence (a warning then). The family comes from a "
        "local config.json, else from the hub id in LLaMA-Factory's model registry; the module names from "
        "transformers' model classes (schemas/model_families.json) for the installed transformers (or 5.6.0, what a "
        "fresh install gets). `c_attn` (GPT-2, Qwen-1) on Qwen2, `query_key_value` (ChatGLM, Falcon) on Llama and "
        "`q_proj,v_proj` on Phi-3 (`qkv_proj`) are the usual cases.",
    fix="Use module names of this architecture (the message lists them) or `all`.",
    bad=_project("lora_target: c_attn\n"), good=_project("lora_target: q_proj,v_proj\n"), target="train.yaml",
)
# Module names of remote-code architectures transformers does not ship (so the generated table cannot have them),
# from each model's own modeling file on its hub repository: the names users copy between families.
REMOTE_MODULES = {
    "chatglm": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "baichuan": ("W_pack", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "internlm2": ("wqkv", "wo", "w1", "w2", "w3"),
}
_REGEX = re.compile(r"[\\^$*+?()\[\]|{}]")


def known_modules(model_type: str, settings) -> Optional[FrozenSet[str]]:
    found = modules(model_type, lf_stack.stack(settings).version("transformers"))
    if found is None and model_type in REMOTE_MODULES:
        found = frozenset(REMOTE_MODULES[model_type]) | {"lm_head", "embed_tokens", "output", "tok_embeddings"}
    return found


def _names_for(config) -> Optional[List[str]]:
    """lora_target as LLaMA-Factory hands it to PEFT, or None when there is nothing to judge."""
    if config.get("finetuning_type", "lora") != "lora" or config.values.get("use_llama_pro"):
        return None  # LLaMA Pro expands the names itself (find_expanded_modules)
    if config.values.get("adapter_name_or_path") and not config.values.get("create_new_adapter"):
        return None  # training resumes an adapter: its own target_modules apply
    targets = split_names(config.values.get("lora_target", "all"))
    if not targets or targets == ["all"]:
        return None
    return targets


def check_lora_target(config, settings) -> Iterator:
    targets = _names_for(config)
    found = family(config) if targets else None
    if not found or not found.model_types or not targets:
        return
    known: set = set()
    adaptable: set = set()
    composite = False
    version = lf_stack.stack(settings).version("transformers")
    for model_type in found.model_types:
        names = known_modules(model_type, settings)
        if names is None:
            return  # one of the candidate architectures is not known: nothing to say
        known |= names
        adaptable |= linear_modules(model_type, version) or (names if model_type in REMOTE_MODULES else set())
        composite = composite or bool((architecture(model_type) or {}).get("composite"))
    missing = [t for t in targets if not _matches(t, known, composite)]
    if not missing:
        return
    shown = ", ".join(f"`{t}`" for t in missing)
    family_names = "/".join(found.model_types)
    listed = ", ".join(sorted(adaptable)) or ", ".join(sorted(known)[:20])
    where = config.where("lora_target")
    if len(missing) == len(targets):
        yield LORA_TARGET.diag(f"`lora_target` names {shown}, which a {family_names} model does not have "
                               f"({found.source}): PEFT raises `Target modules {{...}} not found in the base model` "
                               f"after the weights load. Its linear modules: {listed} (or use `all`)", **where)
    else:
        from lfgate.registry import WARNING

        yield LORA_TARGET.diag(f"`lora_target` names {shown}, which a {family_names} model does not have "
                               f"({found.source}): PEFT trains the other names and drops these in silence. Its "
                               f"linear modules: {listed}", severity=WARNING, **where)


def _matches(target: str, known: set, composite: bool) -> bool:
    """Whether PEFT (or, for composite models, LLaMA-Factory's substring match) can find the name."""
    if _REGEX.search(target):
        return True  # a pattern: not judged
    leaf = target.rsplit(".", 1)[-1]
    if composite and "." not in target:  # model_utils/visual.py patch_target_modules: `target in name`
        return any(target in name for name in known)
    return leaf in known


# ----------------------------------------------------------------------------------------------------------------
# the processor of a hub id
# ----------------------------------------------------------------------------------------------------------------
def _templates_with_hf_only(template: str) -> Dict[str, bool]:
    """{org: every registry id of that org with this template ends with -hf}."""
    orgs: Dict[str, bool] = {}
    for hub_id, entry in data()["hub_ids"].items():
        if entry["template"] == template and "/" in hub_id:
            org = hub_id.split("/")[0]
            orgs[org] = orgs.get(org, True) and hub_id.endswith("-hf")
    return orgs


def processor_problem(config) -> Optional[str]:
    """Why a multimodal template finds no processor for the config's hub id, or None."""
    template = config.values.get("template")
    model = config.values.get("model_name_or_path")
    info = train_schema.templates()["templates"].get(template) if isinstance(template, str) else None
    if not info or not info.get("accepts") or not isinstance(model, str) or looks_like_local_path(model):
        return None
    if os.path.isdir(config.resolve(os.path.expanduser(model))):
        return None  # a local folder: model_loading's TY423 reads its files
    key = model.strip().rstrip("/").lower()
    entry = data()["hub_ids"].get(key)
    if entry is not None:
        if entry["multimodal"]:
            return None
        return (f"LLaMA-Factory's model registry lists {model} ({entry['name']}) as a text-only model: it ships no "
                "processor")
    if "/" in key and not key.endswith("-hf"):
        org, name = key.split("/", 1)
        siblings = [h for h in data()["hub_ids"] if h.split("/")[-1] == name + "-hf"]
        if siblings or _templates_with_hf_only(template).get(org):
            hint = f" (LLaMA-Factory registers {siblings[0]})" if siblings else ""
            return (f"{model} is the original (non `-hf`) layout, whose remote code ships no processor transformers "
                    f"loads; the `-hf` conversion does{hint}")
    return None
