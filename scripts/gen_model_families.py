"""Generate lfgate/schemas/model_families.json: each architecture's module names and processor, and the model
family of every hub id in LLaMA-Factory's model registry.

    python scripts/gen_model_families.py            # in an environment with torch and transformers (and
                                                    # llamafactory, or --llamafactory-src)

Run it once per transformers line lfgate judges (LLaMA-Factory 0.9.5 allows 4.55-5.6): each run adds the running
transformers' module tables to the file and keeps the other versions' (`--fresh` starts over). The committed file
was built with transformers 5.6.0 (what a fresh `pip install llamafactory==0.9.5` gets) and 4.57.6 (the newest
4.x it allows).

Sources, none written by hand except the hub-id -> architecture link:
- architectures: every model_type transformers registers, built on the meta device (no weights, no memory) with
  the class LLaMA-Factory loads it with (model/loader.py: AutoModelForImageTextToText, AutoModelForSeq2SeqLM,
  AutoModelForTextToWaveform, else AutoModelForCausalLM): the leaf names of its modules (what PEFT matches
  `lora_target` against), its processor class (processing_auto), whether LLaMA-Factory treats it as composite
  (model/model_utils/visual.py, where `lora_target` matches by substring), and the default config's sizes (those
  of the checkpoint the configuration documents, nothing more);
- hub ids, templates and multimodal flags: LLaMA-Factory's register_model_group calls (extras/constants.py),
  read with `ast` (never imported);
- hub id -> architecture: SERIES below, one regular expression per model series whose architecture is known
  (the checkpoint each configuration documents confirms many; the script stops when one disagrees). A series
  left out (remote-code models: ChatGLM, InternLM2, MiniCPM...) has no architecture, and lfgate checks nothing
  that needs one.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "lfgate", "schemas", "model_families.json")

# (pattern on the lower-cased hub id, architectures): the first match wins. Only series whose config.json
# model_type is known; MoE and vision variants before their dense/text siblings.
SERIES = [
    (r"^qwen/qwen2-57b-a14b", ["qwen2_moe"]),
    (r"^qwen/qwen2-vl-", ["qwen2_vl"]), (r"^qwen/qwen2\.5-vl-", ["qwen2_5_vl"]),
    (r"^qwen/qwen2-audio-", ["qwen2_audio"]), (r"^qwen/qwen2\.5-omni-", ["qwen2_5_omni"]),
    (r"^qwen/qwen2-", ["qwen2"]), (r"^qwen/qwen2\.5-", ["qwen2"]), (r"^qwen/qwq-32b", ["qwen2"]),
    (r"^qwen/qwen3-next-", ["qwen3_next"]), (r"^qwen/qwen3-vl-\d+b-a\d+b", ["qwen3_vl_moe"]),
    (r"^qwen/qwen3-vl-", ["qwen3_vl"]), (r"^qwen/qwen3-omni-", ["qwen3_omni_moe"]),
    (r"^qwen/qwen3-\d+b-a\d+b", ["qwen3_moe"]), (r"^qwen/qwen3-[\d.]+b", ["qwen3"]),
    (r"^qwen/qwen3\.5-\d+b-a\d+b", ["qwen3_5_moe"]), (r"^qwen/qwen3\.5-", ["qwen3_5"]),
    (r"^deepseek-ai/deepseek-r1-distill-qwen-", ["qwen2"]), (r"^deepseek-ai/deepseek-r1-distill-llama-", ["llama"]),
    (r"^moonshotai/kimi-dev-72b", ["qwen2"]),
    (r"^meta-llama/llama-3\.2-\d+b-vision", ["mllama"]), (r"^meta-llama/llama-4-", ["llama4"]),
    (r"^meta-llama/(meta-)?llama-3(\.\d)?-\d+b", ["llama"]), (r"^meta-llama/llama-2-", ["llama"]),
    (r"^huggyllama/llama-", ["llama"]), (r"^lmsys/vicuna-", ["llama"]), (r"^hfl/chinese-(llama|alpaca)-2-", ["llama"]),
    (r"^01-ai/yi-(?!vl)", ["llama"]), (r"^upstage/solar-10\.7b", ["llama"]), (r"^huggingfacetb/smollm2?-", ["llama"]),
    (r"^deepseek-ai/deepseek-(llm|math)-", ["llama"]), (r"^deepseek-ai/deepseek-coder-\d", ["llama"]),
    (r"^deepseek-ai/deepseek-(coder-)?v2", ["deepseek_v2"]),
    (r"^deepseek-ai/deepseek-(v3|r1$|r1-0528)", ["deepseek_v3"]),
    (r"^mistralai/mixtral-", ["mixtral"]), (r"^huggingfaceh4/zephyr-7b", ["mistral"]),
    (r"^mistralai/mistral-small-3\.[12]-", ["mistral3"]),
    (r"^(mistralai/mistral-7b-|alpindale/mistral-7b-|mistralai/mistral-nemo-|mistralai/mistral-small-24b-|"
     r"mistralai/codestral-22b)", ["mistral"]),
    (r"^mistralai/ministral-8b-instruct-2410", ["mistral", "ministral"]),
    (r"^google/(code)?gemma-(1\.1-)?\d+b", ["gemma"]), (r"^google/gemma-2-", ["gemma2"]),
    (r"^google/gemma-3-1b", ["gemma3_text"]),
    (r"^google/gemma-3-\d+b", ["gemma3"]),
    (r"^google/gemma-3n-", ["gemma3n"]),
    (r"^google/gemma-4-", ["gemma4"]), (r"^google/paligemma2?-", ["paligemma"]),
    (r"^microsoft/phi-3\.5-moe-", ["phimoe"]), (r"^microsoft/phi-3(\.5)?-(mini|medium)-", ["phi3"]),
    (r"^microsoft/phi-4(-mini-instruct)?$", ["phi3"]),
    (r"^tiiuae/falcon-h1-", ["falcon_h1"]), (r"^tiiuae/falcon-(7b|11b|40b|180b)", ["falcon"]),
    (r"^bigscience/bloomz?-", ["bloom"]),
    (r"^openai-community/gpt2", ["gpt2"]),
    (r"^bigcode/starcoder2-", ["starcoder2"]),
    (r"^allenai/olmo-[\d.]+-?\d*b?-?.*hf$", ["olmo"]), (r"^openai/gpt-oss-", ["gpt_oss"]),
    (r"^llava-hf/llava-1\.5-", ["llava"]), (r"^llava-hf/llava-next-video-", ["llava_next_video"]),
    (r"^llava-hf/(llava-v1\.6-|llama3-llava-next-|llava-next-\d+b)", ["llava_next"]),
    (r"^languagebind/video-llava-7b-hf", ["video_llava"]), (r"^mistral-community/pixtral-12b", ["llava"]),
    (r"^opengvlab/internvl.*-hf$", ["internvl"]), (r"^xiaomimimo/mimo-vl-", ["qwen2_5_vl"]),
    (r"^cohereforai/(aya-23-|c4ai-command-r-)", ["cohere"]),
    (r"^ibm-granite/granite-3\.\d-\d+b-a\d+m", ["granitemoe"]), (r"^ibm-granite/granite-3\.\d-\d+b-", ["granite"]),
    (r"^zai-org/glm-4\.1v-", ["glm4v"]), (r"^zai-org/glm-4\.5v", ["glm4v_moe"]), (r"^zai-org/glm-4\.5", ["glm4_moe"]),
    (r"^zai-org/(glm-4-\d+b(-base)?-0414|glm-z1-)", ["glm4"]),
    (r"^tencent/hunyuan-a13b-", ["hunyuan_v1_moe"]), (r"^tencent/hunyuan-[\d.]+b-", ["hunyuan_v1_dense"]),
    (r"^baidu/ernie-4\.5-0\.3b-", ["ernie4_5"]), (r"^baidu/ernie-4\.5-\d+b-a\d+b-", ["ernie4_5_moe"]),
    (r"^bytedance-seed/seed-oss-", ["seed_oss"]), (r"^minimaxai/minimax-(text-01|m1-\d+k)-hf", ["minimax"]),
    (r"^minimaxai/minimax-m2", ["minimax_m2"]),
    (r"^liquidai/lfm2\.5-vl-", ["lfm2_vl"]),
    (r"^liquidai/lfm2\.5-", ["lfm2"]),
    (r"^databricks/dbrx-", ["dbrx"]), (r"^ai21labs/jamba-", ["jamba"]), (r"^tencent/youtu-llm-", ["youtu"]),
]
# Module classes PEFT's LoRA can wrap (peft/tuners/lora/model.py _create_new_module): named in messages.
ADAPTABLE = {"Linear", "Conv1D", "Conv1d", "Conv2d", "Conv3d", "Embedding", "MultiheadAttention"}
# The config keys issue 25's memory estimates read, under their usual names (text_config for composite models).
NUMBERS = {"layers": "num_hidden_layers", "hidden": "hidden_size", "heads": "num_attention_heads",
           "kv_heads": "num_key_value_heads", "intermediate": "intermediate_size", "vocab": "vocab_size",
           "tied_embeddings": "tie_word_embeddings"}


def llamafactory_source(given=None) -> str:
    if given:
        return given
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llamafactory is not installed here: pass --llamafactory-src PATH/src/llamafactory")
    return list(spec.submodule_search_locations)[0]


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def registry(src: str) -> list:
    """register_model_group calls of extras/constants.py: [{name, ids: [hub ids], template, multimodal}]."""
    with open(os.path.join(src, "extras", "constants.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    models = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if not isinstance(call, ast.Call) or getattr(call.func, "id", None) != "register_model_group":
            continue
        kw = {k.arg: k.value for k in call.keywords}
        template = _literal(kw["template"]) if "template" in kw else None
        multimodal = bool(_literal(kw["multimodal"])) if "multimodal" in kw else False
        group = kw["models"]
        assert isinstance(group, ast.Dict)
        for name_node, ids_node in zip(group.keys, group.values):
            assert isinstance(ids_node, ast.Dict)
            ids = [_literal(v) for v in ids_node.values]
            models.append({"name": _literal(name_node), "ids": [i for i in ids if isinstance(i, str)],
                           "template": template, "multimodal": multimodal})
    return models


def composite_types(src: str) -> set:
    with open(os.path.join(src, "model", "model_utils", "visual.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_register_composite_model":
            for k in node.keywords:
                if k.arg == "model_type":
                    found.add(_literal(k.value))
    return found


def llamafactory_version(src: str) -> str:
    with open(os.path.join(src, "extras", "env.py"), encoding="utf-8") as f:
        match = re.search(r'VERSION\s*=\s*"([^"]+)"', f.read())
    return match.group(1) if match else "unknown"


def architectures(only=None) -> dict:
    """{model_type: {modules, processor, numbers, checkpoint}} for the running transformers."""
    import torch
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto import modeling_auto as ma
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    # the order LLaMA-Factory's load_model tries its classes in (model/loader.py:160-167)
    mappings = [getattr(ma, name, {}) for name in ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
                                                   "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
                                                   "MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES",
                                                   "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES")]
    out, failed = {}, []
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        if only and model_type not in only:
            continue
        name = next((m[model_type] for m in mappings if model_type in m), None)
        if isinstance(name, (list, tuple)):
            name = name[0]
        if name is None or not hasattr(transformers, name):
            continue  # nothing LLaMA-Factory would train
        try:
            config = AutoConfig.for_model(model_type)
            with torch.device("meta"):
                model = getattr(transformers, name)._from_config(config)
        except Exception as err:  # noqa: BLE001 - an architecture that cannot be built from its defaults
            names = _source_names(model_type)
            failed.append(f"{model_type}: {type(err).__name__}{'' if names else ' (no modeling file: left out)'}")
            if names:
                out[model_type] = {"modules": ",".join(names), "linear": "", "class": name, "from_source": True,
                                   "processor": PROCESSOR_MAPPING_NAMES.get(model_type), "numbers": {},
                                   "checkpoint": _checkpoint(model_type)}
            continue
        leaves = sorted({n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n}
                        - {str(i) for i in range(1000)})
        adaptable = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                            if n and type(m).__name__ in ADAPTABLE} - {str(i) for i in range(1000)})
        text = getattr(config, "text_config", None) or config
        numbers = {key: getattr(text, attr, None) for key, attr in NUMBERS.items()}
        if numbers["tied_embeddings"] is None:
            numbers["tied_embeddings"] = getattr(config, "tie_word_embeddings", None)
        processor = PROCESSOR_MAPPING_NAMES.get(model_type)
        out[model_type] = {"modules": ",".join(leaves), "linear": ",".join(adaptable), "class": name,
                           "processor": processor,
                           "numbers": {k: v for k, v in numbers.items() if isinstance(v, (int, bool))},
                           "checkpoint": _checkpoint(model_type)}
        del model
    if failed:
        print(f"{len(failed)} architectures could not be built from their defaults: {', '.join(failed)}",
              file=sys.stderr)
    return out


def _source_names(model_type: str) -> list:
    """For an architecture its defaults cannot build: every `self.NAME = ...(...)` in its modeling file, a superset
    of its module names (so a check against it can only miss, never accuse a name that exists)."""
    import transformers

    path = os.path.join(os.path.dirname(transformers.__file__), "models", model_type, f"modeling_{model_type}.py")
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError):
        return []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Subscript)):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "self":
                    names.add(target.attr)
    return sorted(names | {"lm_head"})


def _checkpoint(model_type: str):
    """The checkpoint a configuration documents (its defaults are that checkpoint's), from its source."""
    import transformers

    folder = os.path.join(os.path.dirname(transformers.__file__), "models", model_type)
    path = os.path.join(folder, f"configuration_{model_type}.py")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    match = re.search(r'checkpoint="([\w.-]+/[\w.-]+)"', text) or \
        re.search(r"huggingface\.co/([A-Za-z0-9][\w.-]*/[\w.-]+?)\)", text)
    return match.group(1) if match else None


def series(hub_id: str):
    low = hub_id.lower()
    return next((types for pattern, types in SERIES if re.search(pattern, low)), None)


def hub_ids(models: list, known: set) -> dict:
    out = {}
    for model in models:
        types = next((series(i) for i in model["ids"] if series(i)), None) or []
        types = [t for t in types if t in known]
        for hub_id in model["ids"]:
            out[hub_id.lower()] = {"name": model["name"], "template": model["template"],
                                   "multimodal": model["multimodal"], "architectures": types}
    return dict(sorted(out.items()))


def confirm(ids: dict, archs: dict) -> None:
    """Say where a documented checkpoint that is a registry hub id names another architecture than SERIES."""
    wrong = []
    for model_type, info in archs.items():
        checkpoint = (info.get("checkpoint") or "").lower()
        entry = ids.get(checkpoint)
        if entry and entry["architectures"] and model_type not in entry["architectures"]:
            wrong.append(f"{checkpoint}: SERIES says {entry['architectures']}, transformers documents it as "
                         f"{model_type}")
    if wrong:  # configurations copy each other's docstrings: a lead to look at, not proof
        print("checkpoints documented by another architecture than SERIES names (check each):\n  "
              + "\n  ".join(wrong), file=sys.stderr)


def main(argv=None) -> int:
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llamafactory-src", help="src/llamafactory of a checkout (default: the installed one)")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--fresh", action="store_true", help="drop the other transformers versions' tables")
    parser.add_argument("--only", nargs="*", help="build only these model types (for a quick look)")
    args = parser.parse_args(argv)
    src = llamafactory_source(args.llamafactory_src)
    started = time.time()
    version = transformers.__version__
    built = architectures(set(args.only) if args.only else None)
    old = {}
    if os.path.isfile(args.out) and not args.fresh:
        with open(args.out, encoding="utf-8") as f:
            old = json.load(f)
    archs = old.get("architectures", {})
    for model_type, info in built.items():
        entry = archs.setdefault(model_type, {"modules": {}, "processor": {}})
        entry["modules"][version] = info["modules"]
        entry.setdefault("linear", {})[version] = info["linear"]
        entry["processor"][version] = info["processor"]
        entry["class"] = info["class"]
        if version.startswith("5.") or "numbers" not in entry:  # the fresh install's transformers describes them
            entry["numbers"], entry["checkpoint"] = info["numbers"], info["checkpoint"]
    composite = composite_types(src)
    for model_type, entry in archs.items():
        entry["composite"] = model_type in composite
    models = registry(src)
    ids = hub_ids(models, set(archs))
    confirm(ids, archs)
    versions = sorted({v for e in archs.values() for v in e["modules"]}, key=lambda v: [int(x) for x in
                                                                                         re.findall(r"\d+", v)])
    data = {
        "description": "Each architecture's module leaf names (what PEFT matches lora_target against) and processor "
                       "class per transformers version, LLaMA-Factory's composite flag, the default config's sizes "
                       "(of `checkpoint` only), and the family of every hub id in LLaMA-Factory's model registry. "
                       "Generated by scripts/gen_model_families.py; do not edit.",
        "llamafactory_version": llamafactory_version(src),
        "transformers_versions": versions,
        "architectures": dict(sorted(archs.items())),
        "hub_ids": ids,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=0, ensure_ascii=False)
        f.write("\n")
    linked = sum(1 for e in ids.values() if e["architectures"])
    print(f"wrote {args.out}: {len(built)} architectures for transformers {version}, {len(ids)} hub ids "
          f"({linked} with an architecture), {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
