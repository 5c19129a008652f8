"""dataset_info.json: read it with positions, resolve every entry as LLaMA-Factory's data/parser.py does, and
check it (rules DI001-DI199). Every diagnostic points at the offending key or value.

Resolution (spec §1): the source is the first of hf/ms/om hub URL, script_url, cloud_file_name, file_name;
``columns``/``tags`` are all or nothing: once the object is there, every key it omits is None.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from lfgate.lf_facts import a_json_type, close_matches, did_you_mean, env_enabled, json_type
from lfgate.readers import FILEEXT2TYPE, guarded
from lfgate.readers.jsonpos import PositionMap, position_map
from lfgate.registry import ERROR, INFO, ROOT, WARNING, rule
from lfgate.validator.example_kit import ALPACA_RECORDS, ONE_ENTRY_REGISTRY, entry_project
from lfgate.validator.model import DatasetEntry, Registry

COLUMN_DEFAULTS = {"prompt": "instruction", "query": "input", "response": "output", "history": None,
                   "messages": "conversations", "system": None, "tools": None, "images": None, "videos": None,
                   "audios": None, "chosen": None, "rejected": None, "kto_tag": None}
TAG_DEFAULTS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
ENTRY_KEYS = SOURCE_KEYS + ("formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags")
FORMATTINGS = ("alpaca", "sharegpt", "openai")
# Field names users put on the left of `columns` when they mean the right: data field -> LLaMA-Factory name.
DATA_FIELD_NAMES = {"instruction": "prompt", "input": "query", "output": "response", "conversations": "messages",
                    "question": "prompt", "answer": "response", "text": "prompt", "label": "kto_tag",
                    "image": "images", "video": "videos", "audio": "audios", "system_prompt": "system"}
# What each formatting cannot work without (a None here crashes or drops every sample).
NEEDED_COLUMNS = {"sharegpt": ("messages",), "openai": ("messages",), "alpaca": ()}
NEEDED_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag")

_REG, _ALPACA = ONE_ENTRY_REGISTRY, ALPACA_RECORDS
_SHAREGPT = '[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]\n'
_OPENAI = '[{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]\n'
_PAIR = ('[{"conversations": [{"from": "human", "value": "hi"}], "chosen": {"from": "gpt", "value": "a"}, '
         '"rejected": {"from": "gpt", "value": "b"}}]\n')


_project = entry_project


REGISTRY_UNREADABLE = rule(
    "DI001", "registry-unreadable", ERROR,
    "dataset_info.json is not valid JSON",
    why="LLaMA-Factory raises `Cannot open data/dataset_info.json` before anything trains.",
    fix="Fix the JSON syntax at the reported place.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.json",}}\n', "data/a.json": _ALPACA},
    good={"data/dataset_info.json": _REG, "data/a.json": _ALPACA},
)
REGISTRY_NOT_OBJECT = rule(
    "DI002", "registry-not-object", ERROR,
    "The top level of dataset_info.json is not an object",
    why="LLaMA-Factory looks datasets up by name in a JSON object; a list or a string fails on the first lookup.",
    fix="Make the top level an object: {\"name\": {\"file_name\": ...}, ...}.",
    bad={"data/dataset_info.json": '[{"file_name": "a.json"}]\n', "data/a.json": _ALPACA},
    good={"data/dataset_info.json": _REG, "data/a.json": _ALPACA},
)
ENTRY_NOT_OBJECT = rule(
    "DI003", "entry-not-object", ERROR,
    "A dataset entry is not an object",
    why="parser.py reads attributes with `entry[key]`; a string or list entry raises a TypeError.",
    fix="Write the entry as an object, e.g. {\"file_name\": \"a.json\"}.",
    bad={"data/dataset_info.json": '{"a": "a.json"}\n', "data/a.json": _ALPACA},
    good={"data/dataset_info.json": _REG, "data/a.json": _ALPACA},
)
DUPLICATE_KEY = rule(
    "DI004", "duplicate-key", WARNING,
    "A key appears twice in the same object",
    why="JSON parsers keep the last value silently, so the first definition (often a whole dataset) is lost.",
    fix="Remove or rename one of the two keys.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.json"}, "a": {"file_name": "a.json"}}\n',
         "data/a.json": _ALPACA},
    good={"data/dataset_info.json": _REG, "data/a.json": _ALPACA},
)
ATTRIBUTE_TYPE = rule(
    "DI005", "attribute-type", ERROR,
    "An attribute has the wrong JSON type",
    why="LLaMA-Factory does not check types: a number as file_name or a list as columns crashes while loading.",
    fix="Use the type the schema gives (`lfgate schema dataset_info`): strings for sources, names and tags, "
        "objects for columns and tags.",
    bad=_project('{"file_name": "a.json", "columns": {"prompt": ["instruction"]}}'),
    good=_project('{"file_name": "a.json"}'),
)
UNKNOWN_ENTRY_KEY = rule(
    "DI101", "unknown-entry-key", WARNING,
    "Unknown key in a dataset entry",
    why="LLaMA-Factory ignores keys it does not know (data/parser.py DatasetAttr.join reads only its own), so a "
        "typo silently does nothing. A key an older release read and no release used for training (`file_sha1`, "
        "a checksum up to 0.7.1) and a file type given as a key (`\"format\": \"json\"`: the builder comes from "
        "the extension) have no effect: an info. A suggestion is made only when the value is one the suggested "
        "key accepts; a misspelt formatting/ranking/split is DI140.",
    fix="Use one of the keys LLaMA-Factory reads (the message suggests the closest), or delete the key.",
    bad=_project('{"file_name": "a.json", "fomatting": "alpaca"}'),
    good=_project('{"file_name": "a.json", "formatting": "alpaca"}'),
)
MISSPELT_ENTRY_KEY = rule(
    "DI140", "misspelt-entry-key", WARNING,
    "A misspelt formatting, ranking or split leaves the entry read with the default",
    why="LLaMA-Factory ignores the unknown key and reads the entry with the default of the key it was meant for "
        "(formatting alpaca, ranking false, split train: data/parser.py DatasetAttr.join). When the data does not "
        "fit the way it is then read, this is the one error at the cause: the sample findings it causes fold "
        "under it, with the number of samples they touch. When the data fits, a warning.",
    fix="Spell the key as LLaMA-Factory reads it (the message names it).",
    bad=_project('{"file_name": "a.json", "formating": "sharegpt"}',
                 '[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]\n'),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt"}',
                  '[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]\n'),
    covers=("DS",), scope=ROOT,
)
UNKNOWN_COLUMN_KEY = rule(
    "DI102", "unknown-column-key", WARNING,
    "Unknown key in `columns`",
    why="An unknown column key is ignored, and because `columns` is all or nothing the name it was meant for "
        "becomes null.",
    fix="Use LLaMA-Factory's column names: prompt, query, response, history, messages, system, tools, images, "
        "videos, audios, chosen, rejected, kto_tag.",
    bad=_project('{"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input", '
                 '"response": "output", "sytem": "sys"}}'),
    good=_project('{"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input", '
                  '"response": "output"}}'),
)
COLUMN_KEY_IS_FIELD = rule(
    "DI103", "column-key-is-data-field", WARNING,
    "A `columns` key is a field name of the data, not a LLaMA-Factory column name",
    why="`columns` maps LLaMA-Factory's names (left) to your fields (right); `\"instruction\": ...` on the left "
        "is ignored and the name it was meant for becomes null. When `columns` names no prompt and no response at "
        "all, every sample is dropped: one error on the entry, with the sample findings folded under it.",
    fix="Swap to LLaMA-Factory's name on the left, e.g. \"prompt\": \"instruction\".",
    bad=_project('{"file_name": "a.json", "columns": {"instruction": "instruction", "response": "output"}}'),
    good=_project('{"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input", '
                  '"response": "output"}}'),
    covers=("DS",), scope=ROOT,
)
UNKNOWN_TAG_KEY = rule(
    "DI104", "unknown-tag-key", WARNING,
    "Unknown key in `tags`",
    why="An unknown tag key is ignored, and because `tags` is all or nothing the tag it was meant for becomes null.",
    fix="Use role_tag, content_tag, user_tag, assistant_tag, observation_tag, function_tag or system_tag.",
    bad=_project('{"file_name": "a.json", "formatting": "sharegpt", "tags": {"role_tag": "from", '
                 '"content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "sytem_tag": "system"}}',
                 _SHAREGPT),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt"}', _SHAREGPT),
)
NO_SOURCE = rule(
    "DI105", "no-source", ERROR,
    "A dataset entry has no source",
    why="Without hf_hub_url, ms_hub_url, om_hub_url, script_url, cloud_file_name or file_name, parser.py raises "
        "a bare `KeyError: 'file_name'`.",
    fix="Add \"file_name\" (a file or folder under dataset_dir) or a hub URL.",
    bad=_project('{"formatting": "alpaca"}'),
    good=_project('{"file_name": "a.json"}'),
)
SHADOWED_SOURCE = rule(
    "DI106", "shadowed-source", WARNING,
    "A source key is ignored because a higher-precedence one is present",
    why="LLaMA-Factory uses hub URLs first, then script_url, then cloud_file_name, then file_name; the rest is dead.",
    fix="Remove the ignored key, or the one that wins if the local file is what you meant.",
    bad=_project('{"hf_hub_url": "org/a", "file_name": "a.json"}'),
    good=_project('{"file_name": "a.json"}'),
)
HUB_ONLY = rule(
    "DI107", "remote-source", INFO,
    "A dataset comes from a hub or cloud storage and cannot be checked offline",
    why="lfgate never downloads; only local files are read.",
    fix="Nothing to fix; download the data and point file_name at it to have it checked.",
    bad=_project('{"hf_hub_url": "org/a"}'),
    good=_project('{"file_name": "a.json"}'),
)
LOADING_SCRIPT = rule(
    "DI108", "loading-script", ERROR,
    "script_url points at a dataset loading script",
    why="LLaMA-Factory 0.9.5 uses datasets<=4.0, which raises `Dataset scripts are no longer supported`.",
    fix="Convert the data to JSON/JSONL/Parquet and use file_name, or point script_url at a folder of data files.",
    bad={"data/dataset_info.json": '{"a": {"script_url": "mydata"}}\n',
         "data/mydata/mydata.py": "import datasets\n"},
    good={"data/dataset_info.json": '{"a": {"script_url": "mydata"}}\n', "data/mydata/train.json": _ALPACA},
)
SCRIPT_URL_NOWHERE = rule(
    "DI131", "script-url-not-local", WARNING,
    "script_url names nothing under dataset_dir, so it becomes a hub lookup",
    why="loader.py joins script_url onto dataset_dir and calls `load_dataset(\"data/NAME\")`; when no such folder "
        "exists, `datasets` looks the path up on the Hugging Face Hub: a download of whatever repository has that "
        "name, or a failure offline. Nothing local is checked.",
    fix="Point script_url at a folder of data files under dataset_dir, or use file_name (or hf_hub_url for a "
        "hub dataset, said explicitly).",
    bad={"data/dataset_info.json": '{"a": {"script_url": "evil"}}\n'},
    good={"data/dataset_info.json": '{"a": {"script_url": "mydata"}}\n', "data/mydata/train.json": _ALPACA},
)
CLOUD_PROTOCOL = rule(
    "DI109", "cloud-protocol", ERROR,
    "cloud_file_name is not an s3:// or gs:// path",
    why="LLaMA-Factory raises `Unsupported protocol in path` for anything else.",
    fix="Use s3://bucket/path or gs://bucket/path (JSON or JSONL files).",
    bad=_project('{"cloud_file_name": "https://example.com/a.json"}'),
    good=_project('{"cloud_file_name": "s3://bucket/a.json"}'),
)
COLUMNS_RESET_NEEDED = rule(
    "DI110", "columns-reset-needed", ERROR,
    "A partial `columns` object resets a column the formatting needs",
    why="Once `columns` is present, every key it omits becomes null; sharegpt/openai without `messages` raise "
        "`KeyError: None` while converting.",
    fix="Name every column you use in `columns`, e.g. \"messages\": \"conversations\".",
    bad=_project('{"file_name": "a.json", "formatting": "sharegpt", "columns": {"system": "sys"}}', _SHAREGPT),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "conversations"}}',
                  _SHAREGPT),
    covers=("DS",), scope=ROOT,
)
RESET_NAMES = rule(
    "DI111", "columns-tags-reset", INFO,
    "A partial `columns` or `tags` object resets names that had defaults (data not checkable here)",
    why="Every omitted key becomes null, not its documented default: e.g. alpaca's `input` field is then "
        "ignored, or a leading system message is no longer recognised. For local data the data rules say whether "
        "that matters (DS013, DS201); for hub and cloud datasets this info is all lfgate can say offline.",
    fix="If the data has those fields or roles, name them explicitly.",
    bad=_project('{"hf_hub_url": "org/data", "columns": {"prompt": "instruction", "response": "output"}}'),
    good=_project('{"hf_hub_url": "org/data", "columns": {"prompt": "instruction", "query": "input", '
                  '"response": "output"}}'),
)
TAGS_RESET_NEEDED = rule(
    "DI112", "tags-reset-needed", ERROR,
    "A partial `tags` object resets a tag the formatting needs",
    why="Once `tags` is present, every key it omits becomes null: without role_tag/content_tag messages raise "
        "`KeyError: None`; without user_tag/assistant_tag every sample fails the role check and is dropped.",
    fix="Name role_tag, content_tag, user_tag and assistant_tag (and system_tag, observation_tag, function_tag "
        "if the data uses those roles).",
    bad=_project('{"file_name": "a.json", "formatting": "sharegpt", "tags": {"role_tag": "role", '
                 '"content_tag": "content"}}', _OPENAI),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "messages"}, '
                  '"tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", '
                  '"assistant_tag": "assistant"}}', _OPENAI),
    covers=("DS",), scope=ROOT,
)
BAD_FORMATTING = rule(
    "DI114", "unknown-formatting", ERROR,
    "`formatting` is not alpaca, sharegpt or openai",
    why="The converter is looked up by exact, case-sensitive name: anything else raises "
        "`Dataset converter ... not found`.",
    fix="Use \"alpaca\", \"sharegpt\" or \"openai\" (lower case).",
    bad=_project('{"file_name": "a.json", "formatting": "ShareGPT"}', _SHAREGPT),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt"}', _SHAREGPT),
)
RANKING_NOT_BOOL = rule(
    "DI115", "ranking-not-bool", WARNING,
    "`ranking` is not a JSON boolean",
    why="The stage gate tests `ranking is True`: a string \"true\" passes every stage's gate and still acts as "
        "true in the converter. So rm/dpo train it as ranking data, and other stages drop its pairwise samples "
        "(reported per sample as errors).",
    fix="Write true or false without quotes.",
    bad=_project('{"file_name": "a.json", "formatting": "sharegpt", "ranking": "true", "columns": '
                 '{"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}', _PAIR),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt", "ranking": true, "columns": '
                  '{"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}', _PAIR),
)
RANKING_COLUMNS = rule(
    "DI116", "ranking-needs-chosen-rejected", ERROR,
    "A ranking dataset does not name its chosen and rejected columns",
    why="With `ranking: true` the converter reads example[columns.chosen]; unset, that is `KeyError: None`.",
    fix="Add \"chosen\" and \"rejected\" to `columns`.",
    bad=_project('{"file_name": "a.json", "formatting": "sharegpt", "ranking": true, "columns": '
                 '{"messages": "conversations"}}', _PAIR),
    good=_project('{"file_name": "a.json", "formatting": "sharegpt", "ranking": true, "columns": '
                  '{"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}', _PAIR),
    covers=("DS",), scope=ROOT,
)
BAD_NUM_SAMPLES = rule(
    "DI117", "num-samples-invalid", ERROR,
    "`num_samples` is not a positive integer",
    why="A string raises `slice indices must be integers`; 0 or a negative number silently keeps no or fewer rows.",
    fix="Write a positive integer without quotes, or remove the key to keep every sample.",
    bad=_project('{"file_name": "a.json", "num_samples": "100"}'),
    good=_project('{"file_name": "a.json", "num_samples": 100}'),
)
SPLIT_NOT_TRAIN = rule(
    "DI118", "local-split", ERROR,
    "A local file dataset asks for a split other than train",
    why="Local files have only the `train` split: `Unknown split \"test\". Should be one of ['train']`.",
    fix="Remove `split`, or set it to \"train\"; use eval_dataset or val_size for evaluation data.",
    bad=_project('{"file_name": "a.json", "split": "test"}'),
    good=_project('{"file_name": "a.json", "split": "train"}'),
)
IGNORED_FOR_FILES = rule(
    "DI119", "ignored-for-files", WARNING,
    "`subset` or `folder` is set on a local file or cloud dataset, where LLaMA-Factory ignores it",
    why="They are passed to hub and script loads only.",
    fix="Remove the key, or point file_name at the subfolder you meant.",
    bad=_project('{"file_name": "a.json", "subset": "en"}'),
    good=_project('{"file_name": "a.json"}'),
)
TAGS_IGNORED = rule(
    "DI120", "tags-ignored", WARNING,
    "`tags` is set on an alpaca dataset, which never reads it",
    why="Only the sharegpt and openai converters read tags; alpaca (the default formatting) ignores them.",
    fix="Add \"formatting\": \"sharegpt\" if the data holds messages, or remove `tags`.",
    bad=_project('{"file_name": "a.json", "tags": {"role_tag": "role"}}'),
    good=_project('{"file_name": "a.json"}'),
)
KTO_NEEDS_TAG = rule(
    "DI121", "kto-needs-tag", ERROR,
    "A dataset used for KTO has no `kto_tag` column",
    why="The KTO processor keeps only samples with a desirable/undesirable label; without kto_tag every sample "
        "is dropped and LLaMA-Factory stops with `Cannot find valid samples`.",
    fix="Add \"kto_tag\": \"<your boolean label field>\" to `columns`.",
    bad={**_project('{"file_name": "a.json"}'),
         "train.yaml": "model_name_or_path: m\nstage: kto\ndataset: a\ntemplate: qwen\nfinetuning_type: lora\n"
                       "output_dir: out\n"},
    good={**_project('{"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input", '
                     '"response": "output", "kto_tag": "label"}}',
                     '[{"instruction": "hi", "input": "", "output": "hello", "label": true}]\n'),
          "train.yaml": "model_name_or_path: m\nstage: kto\ndataset: a\ntemplate: qwen\nfinetuning_type: lora\n"
                        "output_dir: out\n"},
    covers=("DS",), scope=ROOT,
)
NO_RESPONSE_COLUMN = rule(
    "DI122", "alpaca-no-response", ERROR,
    "An alpaca dataset has no response column, but the stage trains on responses",
    why="With `columns` present and no `response`, every sample has an empty response; SFT, DPO and KTO drop "
        "them all and stop with `Cannot find valid samples`. (Fine for pretraining: stage pt.)",
    fix="Add \"response\": \"<your answer field>\" to `columns`, or train with stage: pt.",
    bad={**_project('{"file_name": "a.json", "columns": {"prompt": "instruction"}}'),
         "train.yaml": "model_name_or_path: m\nstage: sft\ndataset: a\ntemplate: qwen\nfinetuning_type: lora\n"
                       "output_dir: out\n"},
    good={**_project('{"file_name": "a.json", "columns": {"prompt": "instruction", "response": "output"}}'),
          "train.yaml": "model_name_or_path: m\nstage: sft\ndataset: a\ntemplate: qwen\nfinetuning_type: lora\n"
                        "output_dir: out\n"},
    covers=("DS",), scope=ROOT,
)


# -- reading ------------------------------------------------------------------------------------------------
def load_registry(path: str, settings, project: Tuple[str, ...] = ()) -> Registry:
    """``project``: the checked project's folders (real paths), where the entries' data may be linked."""
    registry = Registry(path=path, dataset_dir=os.path.dirname(path) or ".", project=project)
    try:
        # as parser.py: open() then json.load (a BOM is an error); a FIFO or device is refused, not waited on
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
    except UnicodeDecodeError as err:
        registry.readable = False
        registry.diagnostics.append(REGISTRY_UNREADABLE.diag(
            f"{path} is not UTF-8 ({err.reason} at byte {err.start}); save it as UTF-8.", file=path))
        return registry
    except (OSError, ValueError, RecursionError) as err:
        registry.readable = False
        registry.diagnostics.append(REGISTRY_UNREADABLE.diag(
            f"cannot read {path}: {getattr(err, 'msg', None) or getattr(err, 'strerror', None) or err}; "
            "fix the JSON at this place.", file=path, line=getattr(err, "lineno", None),
            column=getattr(err, "colno", None)))
        return registry
    if isinstance(data, dict) and {"builder_name", "features", "splits"} <= set(data):
        return registry  # the `datasets` library's own metadata (its caches hold files of the same name)
    places = position_map(text)
    registry.diagnostics.extend(_duplicates(path, places))
    if not isinstance(data, dict):
        root = places.get(()) or None
        registry.diagnostics.append(REGISTRY_NOT_OBJECT.diag(
            f"the top level is {a_json_type(data)}; make it an object mapping dataset names to entries.",
            file=path, line=root.line if root else 1, column=root.column if root else 1))
        return registry
    by_entry: Dict[str, dict] = {}
    for p, pl in places.places.items():
        if p and isinstance(p[0], str):
            by_entry.setdefault(p[0], {})[p[1:]] = (pl.line, pl.column)
    for name, raw in data.items():
        place = places.get((name,))
        line, column = place.key if place else (None, None)
        if not isinstance(raw, dict):
            registry.diagnostics.append(ENTRY_NOT_OBJECT.diag(
                f"dataset {name!r} is {a_json_type(raw)}; write it as an object such as "
                f"{{\"file_name\": \"{name}.json\"}}.", file=path, line=line, column=column, dataset=name))
            continue
        entry = resolve_entry(name, raw, registry)
        entry.line, entry.column = line, column
        entry.positions = by_entry.get(name, {})
        registry.entries[name] = entry
        registry.diagnostics.extend(check_entry_attributes(entry, places))
    return registry


def resolve_entry(name: str, raw: dict, registry: Registry) -> DatasetEntry:
    """parser.py's DatasetAttr for one entry (source precedence, defaults, all-or-nothing columns/tags)."""
    entry = DatasetEntry(name=name, registry_path=registry.path, dataset_dir=registry.dataset_dir, raw=raw,
                         project=registry.project)
    entry.load_from, source_key = _source(raw)
    entry.source = raw.get(source_key) if source_key else None
    entry.formatting = raw.get("formatting", "alpaca")
    entry.ranking = raw.get("ranking", False)
    entry.subset = raw.get("subset")
    entry.split = raw.get("split", "train")
    entry.folder = raw.get("folder")
    entry.num_samples = raw.get("num_samples")
    columns, tags = raw.get("columns"), raw.get("tags")
    entry.columns = {k: columns.get(k) for k in COLUMN_DEFAULTS} if isinstance(columns, dict) else dict(COLUMN_DEFAULTS)
    entry.tags = {k: tags.get(k) for k in TAG_DEFAULTS} if isinstance(tags, dict) else dict(TAG_DEFAULTS)
    return entry


def _source(raw: dict) -> Tuple[Optional[str], Optional[str]]:
    """(load_from, key) exactly as parser.py:128-144 picks them."""
    if any(k in raw for k in ("hf_hub_url", "ms_hub_url", "om_hub_url")):
        if "ms_hub_url" in raw and (env_enabled("USE_MODELSCOPE_HUB") or "hf_hub_url" not in raw):
            return "ms_hub", "ms_hub_url"
        if "om_hub_url" in raw and (env_enabled("USE_OPENMIND_HUB") or "hf_hub_url" not in raw):
            return "om_hub", "om_hub_url"
        return "hf_hub", "hf_hub_url"
    for key, load_from in (("script_url", "script"), ("cloud_file_name", "cloud_file"), ("file_name", "file")):
        if key in raw:
            return load_from, key
    return None, None


# -- rules --------------------------------------------------------------------------------------------------
# What a misspelt entry key falls back to (DatasetAttr's defaults).
ENTRY_DEFAULTS = {"formatting": "alpaca", "ranking": False, "split": "train"}
# Entry keys an older LLaMA-Factory read, none of them for training: what they did, and since when they do nothing.
LEGACY_ENTRY_KEYS = {"file_sha1": "a SHA-1 checksum of the file, verified up to LLaMA-Factory 0.7.1 and ignored "
                                  "since 0.8.0"}
_FILE_TYPE_NAMES = set(FILEEXT2TYPE) | set(FILEEXT2TYPE.values())


def _misspelt(key: str, raw: dict) -> Optional[str]:
    """The entry key a typo was meant for, when that key is absent and the typo's value is one it accepts and
    differs from its default: then the entry is read another way than written (DI140)."""
    close = close_matches(key, ENTRY_DEFAULTS, n=1, cutoff=0.75)
    if not close or close[0] in raw:
        return None
    value = raw[key]
    return close[0] if _accepts(close[0], value) and value != ENTRY_DEFAULTS[close[0]] else None


def _names_no_text_column(raw: dict, columns: dict) -> bool:
    """An alpaca `columns` naming none of prompt, response, chosen, rejected: every text column is null."""
    if raw.get("formatting", "alpaca") != "alpaca" or not columns:
        return False
    return not set(columns) & {"prompt", "response", "chosen", "rejected"}


def _suggest(key: str, known) -> str:
    return did_you_mean(key, known, n=1, otherwise=f" Known keys: {', '.join(known)}.")


def _duplicates(path: str, places: PositionMap) -> Iterator:
    seen: List[tuple] = []
    for dup_path, place in places.duplicates:
        if any(dup_path[:len(p)] == p for p in seen):
            continue  # inside a duplicated parent: the parent is reported
        seen.append(dup_path)
        line, column = place.key
        where = ".".join(str(p) for p in dup_path)
        yield DUPLICATE_KEY.diag(f"key {where!r} appears more than once; only the last one is kept. Remove or rename "
                                 "one of them.", file=path, line=line, column=column,
                                 dataset=dup_path[0] if isinstance(dup_path[0], str) else None)


@functools.lru_cache(maxsize=1)
def _entry_schema() -> dict:
    return schema()["$defs"]["entry"]


_JSON_TYPES = {"string": str, "object": dict, "boolean": bool, "null": type(None), "array": list}


def _type_ok(value, wanted) -> bool:
    for name in ([wanted] if isinstance(wanted, str) else wanted):
        if name == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if name == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if name in _JSON_TYPES and type(value) is _JSON_TYPES[name]:
            return True
    return False


def _type_errors(raw: dict) -> Iterator[Tuple[tuple, str]]:
    """(path, message) for each value whose JSON type or length the schema rejects. The schema's type keywords
    only (jsonschema itself would add a fifth of a second to every run); tests validate the schema in full."""
    definitions = schema()["$defs"]

    def resolve(node):
        ref = node.get("$ref")
        return definitions[ref.rsplit("/", 1)[1]] if ref else node

    stack: List[Tuple[tuple, Any, Any]] = [((), raw, _entry_schema())]
    while stack:
        path, value, node = stack.pop()
        node = resolve(node)
        wanted = node.get("type")
        if wanted and not _type_ok(value, wanted):
            shown = " or ".join(wanted) if isinstance(wanted, list) else wanted
            yield path, f"{'.'.join(map(str, path))} is {a_json_type(value)}; it must be {shown}"
            continue
        if isinstance(value, str) and len(value) < node.get("minLength", 0):
            yield path, f"{'.'.join(map(str, path))} is empty; name a file or folder under dataset_dir"
        if isinstance(value, dict):
            for key, child in value.items():
                sub = node.get("properties", {}).get(key)
                if sub is not None:
                    stack.append((path + (key,), child, sub))


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """lfgate/schemas/dataset_info.schema.json (cached: do not modify the result)."""
    here = os.path.join(os.path.dirname(os.path.dirname(__file__)), "schemas", "dataset_info.schema.json")
    with open(here, encoding="utf-8") as f:
        return json.load(f)


# Attributes with a rule of their own; the generic type rule leaves them alone.
_OWN_RULES = {"formatting", "ranking", "num_samples", "cloud_file_name"}


def check_entry_attributes(entry: DatasetEntry, places: PositionMap) -> List:
    """Every attribute of one entry: unknown keys, types, the data source, values, what a partial `columns`
    resets."""
    at = _Locator(entry, places)
    formatting = entry.raw.get("formatting", "alpaca")
    out: List = []
    out.extend(_unknown_keys(entry, at))
    out.extend(_type_findings(entry, at))
    out.extend(_source_findings(entry, at))
    out.extend(_value_findings(entry, formatting, at))
    out.extend(_reset_rules(entry, formatting, at))
    return out


class _Locator:
    """Where a finding about an entry's attribute points: the key (``key=True``) or the value of the path of
    keys inside the entry; the entry itself when the registry has no such place."""

    def __init__(self, entry: DatasetEntry, places: PositionMap):
        self.entry, self.places = entry, places

    def __call__(self, *keys: str, key: bool = False) -> Dict[str, Any]:
        entry = self.entry
        place = self.places.get((entry.name,) + keys)
        if place is None:
            return {"file": entry.registry_path, "line": entry.line, "column": entry.column, "dataset": entry.name}
        line, column = place.key if key else (place.line, place.column)
        return {"file": entry.registry_path, "line": line, "column": column, "dataset": entry.name}


def _unknown_keys(entry: DatasetEntry, at: _Locator) -> Iterator:
    """Unknown keys, at every level: the entry's, `columns`' and `tags`'."""
    raw, name = entry.raw, entry.name
    for key in raw:
        if key not in ENTRY_KEYS:
            yield _unknown_entry_key(entry, key, at)
    columns, tags = raw.get("columns"), raw.get("tags")
    if isinstance(columns, dict) and _names_no_text_column(raw, columns):
        rewrites = [_column_rewrite(k, columns[k]) for k in columns if k in DATA_FIELD_NAMES]
        yield COLUMN_KEY_IS_FIELD.diag(
            f"`columns` of dataset {name!r} names no prompt and no response ({', '.join(map(repr, columns))} are "
            "not LLaMA-Factory column names): every column is reset to null and every sample is dropped"
            + (f"; write {', '.join(rewrites)} (LLaMA-Factory's name on the left, your field on the right)"
               if rewrites else ""), severity=ERROR, **at("columns"))
    elif isinstance(columns, dict):
        for key in columns:
            if key in COLUMN_DEFAULTS:
                continue
            if key in DATA_FIELD_NAMES:
                pair = _column_rewrite(key, columns[key])
                yield COLUMN_KEY_IS_FIELD.diag(
                    f"\"{key}\" is a field name of the data, not a column name: write {pair} (LLaMA-Factory reads the "
                    "name on the left; your record field goes on the right)", **at("columns", key, key=True))
            else:
                yield UNKNOWN_COLUMN_KEY.diag(f"unknown column key {key!r} is ignored.{_suggest(key, COLUMN_DEFAULTS)}",
                                              **at("columns", key, key=True))
    if isinstance(tags, dict):
        for key in tags:
            if key not in TAG_DEFAULTS:
                yield UNKNOWN_TAG_KEY.diag(f"unknown tag key {key!r} is ignored.{_suggest(key, TAG_DEFAULTS)}",
                                           **at("tags", key, key=True))


def _unknown_entry_key(entry: DatasetEntry, key: str, at: _Locator):
    """DI140 for a misspelt formatting/ranking/split whose value that key accepts; else DI101: an info for a
    legacy key or a file type given as a key (no effect), a warning otherwise, suggesting a key only when the
    value is one it accepts (`"format": "json"` is no `formatting`: that rename would crash)."""
    value, name, where = entry.raw[key], entry.name, at(key, key=True)
    ignored = f"unknown key {key!r} in dataset {name!r} is ignored by LLaMA-Factory"
    meant = _misspelt(key, entry.raw)
    if meant:
        return MISSPELT_ENTRY_KEY.diag(f"{ignored}: it reads the entry with {meant} {ENTRY_DEFAULTS[meant]!r} (the "
                                       f"default), not {value!r}. Did you mean `{meant}`?", **where)
    if key in LEGACY_ENTRY_KEYS:
        return UNKNOWN_ENTRY_KEY.diag(f"{ignored} ({LEGACY_ENTRY_KEYS[key]}): no effect; delete it",
                                      severity=INFO, **where)
    if isinstance(value, str) and value.lower() in _FILE_TYPE_NAMES:
        return UNKNOWN_ENTRY_KEY.diag(f"{ignored}: LLaMA-Factory takes the file type from file_name's extension "
                                      "(the builder of extras/constants.py FILEEXT2TYPE), so it has no effect; "
                                      "delete it", severity=INFO, **where)
    suggestions = [k for k in close_matches(key, ENTRY_KEYS, n=3) if _accepts(k, value)][:1]
    hint = f"; did you mean `{suggestions[0]}`?" if suggestions else f"; known keys: {', '.join(ENTRY_KEYS)}"
    return UNKNOWN_ENTRY_KEY.diag(ignored + hint, **where)


def _accepts(key: str, value: Any) -> bool:
    """Whether LLaMA-Factory takes value for the entry key (a rename suggestion must not make it raise)."""
    if key == "formatting":
        return value in FORMATTINGS
    if key == "ranking":
        return isinstance(value, bool)
    if key == "num_samples":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if key in ("columns", "tags"):
        return isinstance(value, dict)
    return isinstance(value, str) and bool(value)


def _column_rewrite(key: str, value) -> str:
    """The `columns` pair LLaMA-Factory reads, for a data-field name on the left: its column name on the left, the
    record field on the right. `"video": "videos"` (a misspelt key, or the sides swapped) -> `"videos": "<your
    field>"`; `"output": "answer"` -> `"response": "answer"`."""
    column = DATA_FIELD_NAMES[key]
    if isinstance(value, str) and value in COLUMN_DEFAULTS:
        return f'"{column}": "<your field>"' if value == column else f'"{value}": "{key}"'
    return f'"{column}": "{value if isinstance(value, str) and value else key}"'


def _type_findings(entry: DatasetEntry, at: _Locator) -> Iterator:
    """Types (schema), except what has a rule of its own and unknown keys (_unknown_keys)."""
    for keys, message in _type_errors(entry.raw):
        if keys and keys[0] in _OWN_RULES:
            continue
        yield ATTRIBUTE_TYPE.diag(message, **at(*keys))


_WINNING_KEY = {"hf_hub": "hf_hub_url", "ms_hub": "ms_hub_url", "om_hub": "om_hub_url", "script": "script_url",
                "cloud_file": "cloud_file_name", "file": "file_name"}


def _source_findings(entry: DatasetEntry, at: _Locator) -> Iterator:
    """The data source: none, several (one wins), a hub or cloud source, a script."""
    raw, name = entry.raw, entry.name
    present = [k for k in SOURCE_KEYS if k in raw]
    if not present:
        yield NO_SOURCE.diag(f"dataset {name!r} has no file_name (nor hub URL, script_url or cloud_file_name): "
                             "LLaMA-Factory raises KeyError: 'file_name'. Add \"file_name\".", **at(key=True))
    winner = _WINNING_KEY.get(entry.load_from or "")
    if winner:
        hubs = ("hf_hub_url", "ms_hub_url", "om_hub_url")
        for key in present:
            if key == winner or (winner in hubs and key in hubs):
                continue  # the hub URLs are alternatives picked by environment variables, not dead keys
            yield SHADOWED_SOURCE.diag(f"{key} is ignored because {winner} takes precedence; remove one of them",
                                       **at(key, key=True))
    if entry.load_from in ("hf_hub", "ms_hub", "om_hub", "cloud_file") and winner:
        yield HUB_ONLY.diag(f"dataset {name!r} is read from {winner} {entry.source!r}; lfgate cannot check it "
                            "offline", **at(winner, key=True))
    if entry.load_from == "cloud_file" and isinstance(entry.source, str) \
            and not entry.source.startswith(("s3://", "gs://", "gcs://")):
        yield CLOUD_PROTOCOL.diag(f"cloud_file_name {entry.source!r} is not an s3:// or gs:// path; LLaMA-Factory "
                                  "raises `Unsupported protocol`", **at("cloud_file_name"))
    if entry.load_from == "script" and isinstance(entry.source, str):
        yield from _script_findings(entry, entry.source, at)


def _script_findings(entry: DatasetEntry, source: str, at: _Locator) -> Iterator:
    if not os.path.exists(os.path.join(entry.dataset_dir, source)):
        shown = os.path.join(os.path.basename(os.path.normpath(entry.dataset_dir)), source)
        yield SCRIPT_URL_NOWHERE.diag(f"script_url {source!r}: {shown} does not exist, so LLaMA-Factory "
                                      f"calls load_dataset({shown!r}), a Hugging Face Hub lookup; nothing local "
                                      "is checked", **at("script_url"))
    script = _loading_script(os.path.join(entry.dataset_dir, source))
    if script:
        yield LOADING_SCRIPT.diag(f"script_url {source!r} is a loading script ({script}); datasets>=4 refuses it. "
                                  "Convert the data to files and use file_name", **at("script_url"))


def _value_findings(entry: DatasetEntry, formatting: Any, at: _Locator) -> Iterator:
    """Attribute values: formatting, ranking, num_samples, and keys local files ignore."""
    raw = entry.raw
    if "formatting" in raw and formatting not in FORMATTINGS:
        hint = ""
        if isinstance(formatting, str) and formatting.lower() in FORMATTINGS:
            hint = f"; write {formatting.lower()!r} (the name is case-sensitive)"
        yield BAD_FORMATTING.diag(f"formatting {formatting!r} is not one of alpaca, sharegpt, openai: "
                                  f"LLaMA-Factory raises `Dataset converter {formatting} not found`{hint}",
                                  **at("formatting"))
    if "ranking" in raw and not isinstance(raw["ranking"], bool):
        yield RANKING_NOT_BOOL.diag(f"ranking is {raw['ranking']!r} ({json_type(raw['ranking'])}); write true or "
                                    "false without quotes", **at("ranking"))
    if "num_samples" in raw and raw["num_samples"] is not None:
        yield from _num_samples(raw["num_samples"], at)
    if entry.load_from in ("file", "cloud_file"):
        split = raw.get("split", "train")
        if isinstance(split, str) and split != "train" and entry.load_from == "file":
            yield SPLIT_NOT_TRAIN.diag(f"split {split!r}: a local file only has the 'train' split, LLaMA-Factory "
                                       "raises `Unknown split`. Remove `split`", **at("split"))
        winner = _WINNING_KEY[entry.load_from]
        for key in ("subset", "folder"):
            if raw.get(key) is not None:
                yield IGNORED_FOR_FILES.diag(f"{key} is ignored for {winner} datasets; remove it", **at(key, key=True))
    if isinstance(raw.get("tags"), dict) and formatting == "alpaca":
        yield TAGS_IGNORED.diag("tags are ignored with alpaca formatting; set \"formatting\": \"sharegpt\" if the "
                                "data holds messages, or remove tags", **at("tags", key=True))


def _num_samples(n: Any, at: _Locator) -> Iterator:
    if isinstance(n, bool) or not isinstance(n, int):
        yield BAD_NUM_SAMPLES.diag(f"num_samples is {n!r} ({json_type(n)}); LLaMA-Factory raises `slice "
                                   "indices must be integers`. Write a positive integer", **at("num_samples"))
    elif n <= 0:
        yield BAD_NUM_SAMPLES.diag(f"num_samples is {n}: LLaMA-Factory keeps "
                                   f"{'no' if n == 0 else 'all but the last ' + str(-n)} samples. Write a "
                                   "positive integer, or remove it", **at("num_samples"))


def _reset_rules(entry: DatasetEntry, formatting: Any, at: _Locator) -> Iterator:
    raw = entry.raw
    columns, tags = raw.get("columns"), raw.get("tags")
    # Resets that matter for local data are judged on the data itself (DS013 for unread alpaca fields, the role
    # rules for undeclared roles); only where no data can be read here is the reset itself worth an info.
    data_unreadable = entry.local_path is None
    if isinstance(columns, dict):
        needed = NEEDED_COLUMNS.get(formatting, ()) if isinstance(formatting, str) else ()
        for key in needed:
            if not columns.get(key):
                yield COLUMNS_RESET_NEEDED.diag(
                    f"`columns` has no {key!r}, so it is null and {formatting} conversion raises KeyError: None; add "
                    f"\"{key}\": \"{COLUMN_DEFAULTS[key]}\" (or your field name)", **at("columns", key=True))
        reset = [k for k, d in COLUMN_DEFAULTS.items() if d is not None and k not in columns and k not in needed
                 and _relevant_column(k, formatting)]
        if reset and data_unreadable:
            yield RESET_NAMES.diag(
                "`columns` omits " + ", ".join(f"{k} (default {COLUMN_DEFAULTS[k]!r})" for k in reset)
                + ": they become null, so those fields are not read; name them if the data has them",
                **at("columns", key=True))
    if entry.ranking is True or (entry.ranking and not isinstance(entry.ranking, bool)):
        missing = [k for k in ("chosen", "rejected") if not entry.columns.get(k)]
        if missing:
            yield RANKING_COLUMNS.diag(
                f"ranking dataset without columns {' and '.join(missing)}: the converter raises KeyError: None; add "
                + ", ".join(f'"{k}": "{k}"' for k in missing) + " to `columns`",
                **at("columns", key=True) if isinstance(columns, dict) else at("ranking", key=True))
    if isinstance(tags, dict) and formatting in ("sharegpt", "openai"):
        missing = [k for k in NEEDED_TAGS if not tags.get(k)]
        if missing:
            yield TAGS_RESET_NEEDED.diag(
                "`tags` omits " + ", ".join(missing) + ": they become null, so "
                + ("messages raise KeyError: None" if {"role_tag", "content_tag"} & set(missing)
                   else "every message fails the role check and every sample is dropped")
                + "; name them, e.g. " + ", ".join(f'"{k}": "{TAG_DEFAULTS[k]}"' for k in missing),
                **at("tags", key=True))
        reset = [k for k in TAG_DEFAULTS if k not in tags and k not in NEEDED_TAGS]
        if reset and data_unreadable:
            yield RESET_NAMES.diag(
                "`tags` omits " + ", ".join(reset) + ": they become null, so messages with those roles are not "
                "recognised (a leading system message or tool turns make the sample be dropped); name them if the "
                "data has them", **at("tags", key=True))


def _relevant_column(key: str, formatting) -> bool:
    if formatting in ("sharegpt", "openai"):
        return key == "messages"
    return key in ("prompt", "query", "response")


def _loading_script(path: str) -> Optional[str]:
    """The .py loading script script_url points at, if any (a folder of data files still loads)."""
    if path.endswith(".py") and os.path.isfile(path):
        return os.path.basename(path)
    if os.path.isdir(path):
        own = os.path.basename(os.path.normpath(path)) + ".py"
        if os.path.isfile(os.path.join(path, own)):
            return own
    return None


def convertible(entry: DatasetEntry) -> bool:
    """False when LLaMA-Factory cannot even start converting (a formatting with no converter, columns/tags that
    are not objects of names): the registry rules report it and no sample can be judged."""
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    if entry.formatting not in FORMATTINGS:
        return False
    for key in ("columns", "tags"):
        if key in raw and not isinstance(raw[key], dict):
            return False
    names = list(entry.columns.values()) + list(entry.tags.values())
    return all(v is None or isinstance(v, str) for v in names)


def stage_rules(entry: DatasetEntry, usage) -> List:
    """Rules that need the stage a training config uses the entry with (called by datasets.check_entry)."""
    out: List = []
    stage = getattr(usage, "stage", None)
    if stage is None or not isinstance(entry.raw, dict):
        return out
    path = entry.registry_path
    line, column = entry.place("columns") if "columns" in entry.raw else (entry.line, entry.column)
    where = {"file": path, "line": line, "column": column, "dataset": entry.name}
    if stage == "kto" and not entry.columns.get("kto_tag"):
        out.append(KTO_NEEDS_TAG.diag(f"dataset {entry.name!r} is used with stage kto but has no kto_tag column; add "
                                      "\"kto_tag\": \"<boolean label field>\" to `columns`", **where))
    if entry.formatting == "alpaca" and not entry.ranking and stage in ("sft", "kto", "rm") \
            and isinstance(entry.raw.get("columns"), dict) and not entry.columns.get("response") \
            and not _names_no_text_column(entry.raw, entry.raw["columns"]):
        out.append(NO_RESPONSE_COLUMN.diag(f"dataset {entry.name!r} has `columns` without \"response\", so every "
                                           f"sample has an empty response and stage {stage} drops them all; add "
                                           "\"response\": \"output\" (your answer field)", **where))
    return out
