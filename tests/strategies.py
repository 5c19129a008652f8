"""Hypothesis strategies for VALID LLaMA-Factory projects, and the targeted mutations that break them.

A generated `Project` is data (registry entry, records, training config) plus where each record lands; `files()`
renders it to {relative path: text or bytes}. Records are written one per line in every layout, so the line of
sample i is known: JSON array -> line i + 2, JSONL -> line i + 1.

"Valid" means LLaMA-Factory 0.9.5 loads, converts and tokenizes every sample for the configured stage and template
(see ../shared/spec/llamafactory-data.md): roles alternate, counts are even (odd for ranking), media counts match
placeholders, content is a non-empty string, function turns are JSON calls, tools is a JSON-array string.
"""

from __future__ import annotations

import collections
import copy
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hypothesis import assume, strategies as st

DATA_DIR = "data"
REGISTRY = f"{DATA_DIR}/dataset_info.json"
CONFIG = "train.yaml"

KINDS = (
    "alpaca_sft", "alpaca_pretrain", "alpaca_ranking", "alpaca_kto",
    "sharegpt_sft", "sharegpt_tools", "sharegpt_ranking", "sharegpt_kto",
    "openai_tags", "multimodal",
)
RANKING_KINDS = {"alpaca_ranking", "sharegpt_ranking"}
KTO_KINDS = {"alpaca_kto", "sharegpt_kto"}
SHAREGPT_KINDS = {"sharegpt_sft", "sharegpt_tools", "sharegpt_ranking", "sharegpt_kto", "openai_tags", "multimodal"}

TEXT_MODEL = ("Qwen/Qwen2.5-0.5B-Instruct", "qwen")
# media kinds -> (model, template); all are Qwen templates whose plugin checks placeholder counts
MM_MODELS = {
    frozenset({"images"}): ("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl"),
    frozenset({"videos"}): ("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl"),
    frozenset({"images", "videos"}): ("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl"),
    frozenset({"audios"}): ("Qwen/Qwen2-Audio-7B-Instruct", "qwen2_audio"),
}
PLACEHOLDER = {"images": "<image>", "videos": "<video>", "audios": "<audio>"}
def _mp4_header() -> bytes:
    """ftyp + moov with one 8x8 video track of 4 frames over 2 s (header only: DS513 needs moov and a video track)."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload
    tkhd = b"\x00" * 76 + (8 << 16).to_bytes(4, "big") * 2
    mdhd = b"\x00" * 12 + (1000).to_bytes(4, "big") + (2000).to_bytes(4, "big") + b"\x00" * 4
    stbl = box(b"stbl", box(b"stsz", b"\x00" * 8 + (4).to_bytes(4, "big")))
    mdia = box(b"mdia", box(b"mdhd", mdhd) + box(b"hdlr", b"\x00" * 8 + b"vide" + b"\x00" * 13) + box(b"minf", stbl))
    return box(b"ftyp", b"mp42\x00\x00\x00\x00mp42") + box(b"moov", box(b"trak", box(b"tkhd", tkhd) + mdia))


def _png_8x8() -> bytes:
    """A whole 8x8 PNG (IHDR, IDAT, IEND): a PNG without its end is decoded by DS510's check, and fails."""
    from lfgate.validator.media import png

    return png(8, 8)


# tiny files with the right magic bytes; images carry a readable 8x8 header (DS510) and end as a whole file does
MEDIA_BYTES = {
    ".jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
             b"\xff\xc0\x00\x11\x08\x00\x08\x00\x08\x03\x01\x11\x00\x02\x11\x01\x03\x11\x01\xff\xd9"),
    ".png": _png_8x8(),
    ".mp4": _mp4_header(),
    ".wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16,
    ".mp3": b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 16,
}
MEDIA_SUFFIXES = {"images": (".jpg", ".png"), "videos": (".mp4",), "audios": (".wav", ".mp3")}

# words only: no '<' (placeholders), no control characters; some non-ASCII to exercise encodings
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,?!'-éßøç中文字🙂"
words = st.text(alphabet=_ALPHABET, min_size=1, max_size=24).filter(lambda s: s.strip() != "")
names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)


@dataclass
class Project:
    """A valid project. `records` may be split over several files when `layout == "folder"`."""

    kind: str
    name: str
    entry: Dict[str, Any]
    records: List[Dict[str, Any]]
    config: Dict[str, Any]
    layout: str = "json"  # json | jsonl | folder
    parts: int = 2  # files in the folder layout
    media: Dict[str, bytes] = field(default_factory=dict)  # path under data/ -> bytes

    # -- where things are --------------------------------------------------------------------------
    @property
    def data_path(self) -> str:
        """The registered file_name under data/ (a folder in the folder layout)."""
        if self.layout == "folder":
            return f"{DATA_DIR}/{self.name}"
        return f"{DATA_DIR}/{self.name}.{'jsonl' if self.layout == 'jsonl' else 'json'}"

    def chunks(self) -> List[List[int]]:
        """Record indices per data file, in file order."""
        n = len(self.records)
        if self.layout != "folder":
            return [list(range(n))]
        size = max(1, -(-n // self.parts))
        return [list(range(i, min(n, i + size))) for i in range(0, n, size)]

    def place(self, index: int):
        """(file, 1-based line, index within that file) of record `index`."""
        for number, chunk in enumerate(self.chunks()):
            if index in chunk:
                local = chunk.index(index)
                if self.layout == "folder":
                    return f"{self.data_path}/part-{number:02d}.jsonl", local + 1, local
                return self.data_path, local + (2 if self.layout == "json" else 1), local
        raise IndexError(index)

    # -- rendering ---------------------------------------------------------------------------------
    def files(self) -> Dict[str, Any]:
        entry = dict(self.entry)
        entry["file_name"] = self.data_path[len(DATA_DIR) + 1:]
        out: Dict[str, Any] = {REGISTRY: json.dumps({self.name: entry}, ensure_ascii=False, indent=2) + "\n"}
        dump = [json.dumps(r, ensure_ascii=False) for r in self.records]
        if self.layout == "json":
            out[self.data_path] = "[\n" + ",\n".join(dump) + "\n]\n"
        elif self.layout == "jsonl":
            out[self.data_path] = "".join(line + "\n" for line in dump)
        else:
            for number, chunk in enumerate(self.chunks()):
                out[f"{self.data_path}/part-{number:02d}.jsonl"] = "".join(dump[i] + "\n" for i in chunk)
        for rel, data in self.media.items():
            out[f"{DATA_DIR}/{rel}"] = data
        out[CONFIG] = render_yaml(self.config)
        return out

    def config_line(self, key: str) -> int:
        """1-based line of `key` in the rendered training YAML."""
        return list(self.config).index(key) + 1

    def registry_line(self, key: Optional[str] = None) -> int:
        """1-based line of the entry (or of `key` inside it) in the rendered registry."""
        text = self.files()[REGISTRY].splitlines()
        if key is None:
            return 2
        return next(i for i, line in enumerate(text, 1) if line.strip().startswith(json.dumps(key) + ":"))

    def copy(self, **changes) -> Project:
        clone = copy.deepcopy(self)
        for key, value in changes.items():
            setattr(clone, key, value)
        return clone


def render_yaml(values: Dict[str, Any]) -> str:
    """One `key: value` per line, in order (so a key's line is its index + 1)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML flow scalar
        lines.append(f"{key}: {text}")
    return "\n".join(lines) + "\n"


# DPO's loss: ORPO and SimPO are `stage: dpo` with this key
pref_losses = st.sampled_from([None, "sigmoid", "orpo", "simpo"])


def training_config(name: str, stage: str, model: str, template: str, pref_loss=None) -> Dict[str, Any]:
    config = {
        "model_name_or_path": model,
        "stage": stage,
        "do_train": True,
        "finetuning_type": "lora",
        "lora_target": "all",
        "dataset": name,
        "dataset_dir": DATA_DIR,
        "template": template,
        "cutoff_len": 4096,
        "output_dir": f"saves/{name}",
        "per_device_train_batch_size": 1,
        "learning_rate": 0.0001,
        "num_train_epochs": 1.0,
    }
    if stage == "dpo" and pref_loss:
        config["pref_loss"] = pref_loss
    return config


# -- alpaca ------------------------------------------------------------------------------------------
@st.composite
def _alpaca_record(draw, *, ranking=False, kto=False, history=True):
    record = {"instruction": draw(words), "input": draw(st.one_of(st.just(""), words))}
    if ranking:
        record["chosen"], record["rejected"] = draw(words), draw(words)
    else:
        record["output"] = draw(words)
    if kto:
        record["kto_tag"] = draw(st.booleans())
    if history:
        record["history"] = draw(st.lists(st.tuples(words, words).map(list), max_size=2))
    return record


@st.composite
def alpaca_project(draw, kind: str):
    name = draw(names)
    n = draw(st.integers(1, 6))
    if kind == "alpaca_pretrain":
        records = [{"text": draw(words)} for _ in range(n)]
        entry = {"columns": {"prompt": "text"}}
        stage = "pt"
    elif kind == "alpaca_ranking":
        records = [draw(_alpaca_record(ranking=True, history=False)) for _ in range(n)]
        entry = {"ranking": True, "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                              "rejected": "rejected"}}
        stage = draw(st.sampled_from(["dpo", "rm"]))
    elif kind == "alpaca_kto":
        records = [draw(_alpaca_record(kto=True, history=False)) for _ in range(n)]
        entry = {"columns": {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"}}
        stage = "kto"
    else:
        with_history = draw(st.booleans())
        records = [draw(_alpaca_record(history=with_history)) for _ in range(n)]
        entry = {}
        if any("history" in r for r in records):
            entry = {"columns": {"prompt": "instruction", "query": "input", "response": "output",
                                 "history": "history"}}
        if draw(st.booleans()):  # a system column
            for r in records:
                r["system"] = draw(words)
            entry.setdefault("columns", {"prompt": "instruction", "query": "input", "response": "output"})
            entry["columns"]["system"] = "system"
        stage = "sft"
    config = training_config(name, stage, *TEXT_MODEL, pref_loss=draw(pref_losses))
    if stage == "pt":  # packing needs one whole block of cutoff_len - 1 tokens, or LLaMA-Factory raises (LK102)
        config["cutoff_len"] = 2
    return Project(kind=kind, name=name, entry=entry, records=records, config=config)


# -- sharegpt ----------------------------------------------------------------------------------------
def _tool_call(fn: str, arg: str) -> str:
    return json.dumps({"name": fn, "arguments": {"x": arg}}, ensure_ascii=False)


def _tools_text(fn: str) -> str:
    return json.dumps([{"name": fn, "description": "a tool",
                        "parameters": {"type": "object", "properties": {"x": {"type": "string"}},
                                       "required": ["x"]}}])


@st.composite
def _sharegpt_turns(draw, *, tools=False, min_rounds=1):
    """Alternating (role, text) turns with default sharegpt tags, ending with gpt (even count)."""
    turns = []
    for _ in range(draw(st.integers(min_rounds, 3))):
        turns.append(("human", draw(words)))
        if tools and draw(st.booleans()):
            fn = draw(names)
            turns += [("function_call", _tool_call(fn, draw(words))), ("observation", draw(words))]
        turns.append(("gpt", draw(words)))
    return turns


@st.composite
def sharegpt_project(draw, kind: str):
    name = draw(names)
    n = draw(st.integers(1, 5))
    records, entry, stage = [], {"formatting": "sharegpt"}, "sft"
    # every record has the same fields: a folder of files whose column sets differ does not load
    # ("All the data files must have the same columns"), though rows of one file may omit fields
    with_system = kind != "sharegpt_kto" and draw(st.booleans())
    for _ in range(n):
        system = draw(words) if with_system else None
        if kind == "sharegpt_ranking":
            turns = draw(_sharegpt_turns())[:-1]  # odd count: ends with a human turn
            record = {"conversations": [{"from": r, "value": v} for r, v in turns],
                      "chosen": {"from": "gpt", "value": draw(words)},
                      "rejected": {"from": "gpt", "value": draw(words)}}
        elif kind == "sharegpt_kto":
            # the kto_en_demo shape: OpenAI-style partial tags, a boolean label column
            turns = draw(_sharegpt_turns())
            record = {"messages": [{"role": {"human": "user", "gpt": "assistant"}[r], "content": v}
                                   for r, v in turns], "label": draw(st.booleans())}
            system = None  # partial tags have no system_tag: a leading system message would be dropped
        else:
            turns = draw(_sharegpt_turns(tools=kind == "sharegpt_tools"))
            record = {"conversations": [{"from": r, "value": v} for r, v in turns]}
        if system is not None and kind != "sharegpt_kto":
            record["system"] = system
        if kind == "sharegpt_tools":
            fns = [json.loads(m["value"])["name"] for m in record["conversations"] if m["from"] == "function_call"]
            record["tools"] = _tools_text(fns[0] if fns else draw(names))
        records.append(record)
    has_system = any("system" in r for r in records)
    if kind == "sharegpt_ranking":
        entry.update(ranking=True, columns={"messages": "conversations", "chosen": "chosen", "rejected": "rejected"})
        stage = draw(st.sampled_from(["dpo", "rm"]))
    elif kind == "sharegpt_kto":
        entry["columns"] = {"messages": "messages", "kto_tag": "label"}
        entry["tags"] = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant"}
        stage = "kto"
    elif kind == "sharegpt_tools":
        entry["columns"] = {"messages": "conversations", "tools": "tools"}
    if has_system:
        entry.setdefault("columns", {"messages": "conversations"})["system"] = "system"
    return Project(kind=kind, name=name, entry=entry, records=records,
                   config=training_config(name, stage, *TEXT_MODEL, pref_loss=draw(pref_losses)))


@st.composite
def openai_tags_project(draw):
    """The README's "OpenAI format": sharegpt with role/content tags and a leading system message."""
    name = draw(names)
    records = []
    for _ in range(draw(st.integers(1, 5))):
        turns = draw(_sharegpt_turns())
        messages = [{"role": {"human": "user", "gpt": "assistant"}[r], "content": v} for r, v in turns]
        if draw(st.booleans()):
            messages.insert(0, {"role": "system", "content": draw(words)})
        records.append({"messages": messages})
    entry = {"formatting": "sharegpt", "columns": {"messages": "messages"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                      "assistant_tag": "assistant", "system_tag": "system"}}
    return Project(kind="openai_tags", name=name, entry=entry, records=records,
                   config=training_config(name, "sft", *TEXT_MODEL))


@st.composite
def multimodal_project(draw):
    """mllm_demo's shape: role/content tags and media columns, each medium matched by one placeholder."""
    name = draw(names)
    kinds = draw(st.sampled_from(sorted(MM_MODELS, key=sorted)))
    media: Dict[str, bytes] = {}
    records = []
    for i in range(draw(st.integers(1, 4))):
        turns = draw(_sharegpt_turns())
        messages = [{"role": {"human": "user", "gpt": "assistant"}[r], "content": v} for r, v in turns]
        record: Dict[str, Any] = {"messages": messages}
        for column in sorted(kinds):
            paths = []
            for j in range(draw(st.integers(1, 2))):
                suffix = draw(st.sampled_from(MEDIA_SUFFIXES[column]))
                rel = f"media/{column}_{i}_{j}{suffix}"
                media[rel] = MEDIA_BYTES[suffix]
                paths.append(rel)
                # the placeholder goes into a user turn (any one), never into system or tools
                users = [k for k, m in enumerate(messages) if m["role"] == "user"]
                target = messages[draw(st.sampled_from(users))]
                target["content"] = PLACEHOLDER[column] + target["content"]
            record[column] = paths
        records.append(record)
    entry = {"formatting": "sharegpt", "columns": {"messages": "messages", **{c: c for c in sorted(kinds)}},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                      "assistant_tag": "assistant"}}
    model, template = MM_MODELS[kinds]
    return Project(kind="multimodal", name=name, entry=entry, records=records, media=media,
                   config=training_config(name, "sft", model, template))


def project_of(kind: str):
    if kind.startswith("alpaca"):
        return alpaca_project(kind)
    if kind == "openai_tags":
        return openai_tags_project()
    if kind == "multimodal":
        return multimodal_project()
    return sharegpt_project(kind)


@st.composite
def projects(draw, kinds=KINDS, layouts=("json", "jsonl", "folder")):
    """Any valid project, in any file layout."""
    project = draw(project_of(draw(st.sampled_from(kinds))))
    project.layout = draw(st.sampled_from(layouts))
    if project.layout == "folder":
        project.parts = draw(st.integers(1, 3))
    return project


def all_layouts(project: Project) -> List[Project]:
    """The same records as one JSON array, as JSONL, and split over a folder of JSONL files."""
    return [project.copy(layout="json"), project.copy(layout="jsonl"), project.copy(layout="folder", parts=2)]


# -- targeted mutations -------------------------------------------------------------------------------
MUTATIONS = ("swap_turns", "change_role", "drop_message", "add_placeholder", "remove_placeholder",
             "remove_media_file", "bool_to_string_record", "bool_to_string_registry", "mistype_config_key",
             "omit_columns_entry", "stage_mismatch", "change_type_in_record")
Mutated = collections.namedtuple("Mutated", "project mutation file sample line")


def _messages_key(project):
    return project.entry.get("columns", {}).get("messages", "conversations")


def _role_key(project):
    return project.entry.get("tags", {}).get("role_tag", "from")


# mutation -> the kinds of project it applies to
APPLIES = {
    "swap_turns": SHAREGPT_KINDS, "change_role": SHAREGPT_KINDS, "drop_message": SHAREGPT_KINDS,
    "add_placeholder": {"multimodal"}, "remove_placeholder": {"multimodal"}, "remove_media_file": {"multimodal"},
    "bool_to_string_record": KTO_KINDS, "bool_to_string_registry": RANKING_KINDS,
    "omit_columns_entry": (SHAREGPT_KINDS - {"sharegpt_sft"}) | {"alpaca_ranking"},
    "mistype_config_key": set(KINDS), "stage_mismatch": set(KINDS), "change_type_in_record": set(KINDS),
}


@st.composite
def mutated_projects(draw, kinds=KINDS, exclude=()):
    """A valid project with one targeted defect, and where the defect is: (file, sample, line)."""
    mutation = draw(st.sampled_from([m for m in MUTATIONS if m not in exclude and APPLIES[m] & set(kinds)]))
    project = draw(projects(kinds=[k for k in kinds if k in APPLIES[mutation]]))
    sharegpt = project.kind in SHAREGPT_KINDS
    p = project.copy()
    i = draw(st.integers(0, len(p.records) - 1))
    record = p.records[i]
    file, line = None, None
    if mutation in ("swap_turns", "change_role", "drop_message"):
        messages = record[_messages_key(p)]
        start = 1 if messages and messages[0].get(_role_key(p)) == "system" else 0
        if mutation == "swap_turns":
            assume(len(messages) - start >= 2)
            j = draw(st.integers(start, len(messages) - 2))
            assume(messages[j][_role_key(p)] != messages[j + 1][_role_key(p)])
            messages[j], messages[j + 1] = messages[j + 1], messages[j]
        elif mutation == "change_role":
            j = draw(st.integers(start, len(messages) - 1))
            messages[j][_role_key(p)] = draw(st.sampled_from(["bot", "Human", "tool", "model"]))
        else:
            assume(len(messages) - start >= 1)
            del messages[-1]
    elif mutation in ("add_placeholder", "remove_placeholder"):
        column = draw(st.sampled_from(sorted(c for c in PLACEHOLDER if c in record)))
        users = [m for m in record["messages"] if m["role"] == "user"]
        if mutation == "add_placeholder":
            target = draw(st.sampled_from(users))
            target["content"] += PLACEHOLDER[column]
        else:
            target = next(m for m in users if PLACEHOLDER[column] in m["content"])
            target["content"] = target["content"].replace(PLACEHOLDER[column], "", 1)
    elif mutation == "remove_media_file":
        column = draw(st.sampled_from(sorted(c for c in PLACEHOLDER if c in record)))
        del p.media[draw(st.sampled_from(record[column]))]
    elif mutation == "bool_to_string_record":
        key = "label" if p.kind == "sharegpt_kto" else "kto_tag"
        record[key] = "true" if record[key] else "false"
    elif mutation == "bool_to_string_registry":
        p.entry["ranking"] = "true"
        file, line = REGISTRY, p.registry_line("ranking")
    elif mutation == "mistype_config_key":
        key = draw(st.sampled_from(["learning_rate", "num_train_epochs", "per_device_train_batch_size",
                                    "lora_target", "cutoff_len"]))
        typo = draw(st.sampled_from([key[:-1], key[0] + key[2:], key.replace("_", "-", 1)]))
        p.config = {(typo if k == key else k): v for k, v in p.config.items()}
        file, line = CONFIG, p.config_line(typo)
    elif mutation == "omit_columns_entry":
        p.entry["columns"].pop("chosen" if p.kind == "alpaca_ranking" else "messages")
        file, line = REGISTRY, p.registry_line("columns")
    elif mutation == "stage_mismatch":
        p.config["stage"] = "sft" if p.kind in RANKING_KINDS else draw(st.sampled_from(["dpo", "rm"]))
        file, line = CONFIG, p.config_line("dataset")  # the dataset that does not fit the stage
    elif mutation == "change_type_in_record":
        if sharegpt:
            messages = record[_messages_key(p)]
            content = p.entry.get("tags", {}).get("content_tag", "value")
            j = draw(st.integers(0, len(messages) - 1))
            messages[j][content] = draw(st.sampled_from([5, ["x"], {"text": "x"}, True]))
        else:
            key = draw(st.sampled_from([k for k in ("output", "chosen", "instruction", "text") if k in record]))
            record[key] = draw(st.sampled_from([5, ["x"], {"text": "x"}, 1.5]))
    sample = None
    if file is None:  # a record-level defect: at that sample, in its data file, on its line
        file, line, _ = p.place(i)
        sample = i
    return Mutated(p, mutation, file, sample, line)


# -- hostile values, for "arbitrary content in any file" -----------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
