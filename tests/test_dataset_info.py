"""dataset_info.json: resolution as parser.py does it, and each DI rule at the exact key or value."""

import json

import pytest

from conftest import oracle_missing
from helpers import check_json, find
from lfgate.settings import Settings
from lfgate.validator.dataset_info import load_registry, resolve_entry
from lfgate.validator.model import Registry

ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'


def _registry(tmp_path, text, files=None):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "dataset_info.json").write_text(text, encoding="utf-8")
    for name, content in (files or {}).items():
        (data / name).write_text(content, encoding="utf-8")
    return load_registry(str(data / "dataset_info.json"), Settings())


def _codes_at(registry, code):
    return [(d.line, d.column, d.dataset) for d in registry.diagnostics if d.code == code]


def _entry(raw):
    return resolve_entry("x", raw, Registry(path="data/dataset_info.json", dataset_dir="data"))


# -- resolution -----------------------------------------------------------------------------------------------
def test_source_precedence(monkeypatch):
    monkeypatch.delenv("USE_MODELSCOPE_HUB", raising=False)
    monkeypatch.delenv("USE_OPENMIND_HUB", raising=False)
    both = {"hf_hub_url": "h", "ms_hub_url": "m", "om_hub_url": "o", "file_name": "f.json"}
    assert (_entry(both).load_from, _entry(both).source) == ("hf_hub", "h")
    assert _entry({"ms_hub_url": "m", "om_hub_url": "o"}).load_from == "ms_hub"
    assert _entry({"om_hub_url": "o", "script_url": "s"}).load_from == "om_hub"
    assert _entry({"script_url": "s", "cloud_file_name": "s3://b", "file_name": "f"}).load_from == "script"
    assert _entry({"cloud_file_name": "s3://b", "file_name": "f"}).load_from == "cloud_file"
    assert _entry({"formatting": "alpaca"}).load_from is None
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    assert _entry(both).load_from == "ms_hub"


def test_columns_and_tags_are_all_or_nothing():
    entry = _entry({"file_name": "a.json", "columns": {"prompt": "q"}, "tags": {"role_tag": "role"}})
    assert entry.columns["prompt"] == "q"
    assert entry.columns["query"] is None and entry.columns["response"] is None and entry.columns["messages"] is None
    assert entry.tags["role_tag"] == "role" and entry.tags["content_tag"] is None
    default = _entry({"file_name": "a.json"})
    assert default.columns["query"] == "input" and default.tags["user_tag"] == "human"


def test_formatting_null_is_kept_as_given():
    assert _entry({"file_name": "a.json", "formatting": None}).formatting is None


def test_positions_of_attributes(tmp_path):
    registry = _registry(tmp_path, '{\n  "a": {\n    "file_name": "a.json",\n    "columns": {"prompt": "p"}\n  }\n}\n')
    entry = registry.entries["a"]
    assert (entry.line, entry.column) == (2, 3)
    assert entry.place("file_name") == (3, 18)
    assert entry.place("columns", "prompt") == (4, 27)
    assert entry.place("nope") == (2, 3)


# -- rules at their place -------------------------------------------------------------------------------------
def test_unreadable_json_points_at_the_error(tmp_path):
    registry = _registry(tmp_path, '{\n  "a": {"file_name": "a.json",}\n}\n')
    (d,) = registry.diagnostics
    assert (d.code, d.line, d.column) == ("DI001", 2, 31) and not registry.readable


def test_bom_in_registry_is_unreadable_like_llamafactory(tmp_path):
    registry = _registry(tmp_path, '\ufeff{"a": {"file_name": "a.json"}}')
    assert [d.code for d in registry.diagnostics] == ["DI001"]


def test_duplicate_dataset_name(tmp_path):
    registry = _registry(tmp_path, '{"a": {"file_name": "a.json"},\n "a": {"file_name": "b.json", "ranking": false}}')
    assert _codes_at(registry, "DI004") == [(2, 2, "a")]
    assert registry.entries["a"].source == "b.json"


def test_unknown_keys_with_suggestions(tmp_path):
    registry = _registry(tmp_path, '{"a": {\n"file_name": "a.json",\n"fomatting": "alpaca",\n'
                                   '"columns": {"promt": "x", "instruction": "y", "query": "input", '
                                   '"response": "output"},\n"tags": {"rol_tag": "r"}}}')
    (d101,) = [d for d in registry.diagnostics if d.code == "DI101"]
    assert (d101.line, d101.column) == (3, 1) and "`formatting`" in d101.message
    (d102,) = [d for d in registry.diagnostics if d.code == "DI102"]
    assert (d102.line, d102.column) == (4, 13) and "`prompt`" in d102.message
    (d103,) = [d for d in registry.diagnostics if d.code == "DI103"]
    assert (d103.line, d103.column) == (4, 27) and '"prompt": "y"' in d103.message  # the right side is the field
    (d104,) = [d for d in registry.diagnostics if d.code == "DI104"]
    assert (d104.line, d104.column) == (5, 10) and "`role_tag`" in d104.message


def test_value_rules_point_at_the_value(tmp_path):
    registry = _registry(tmp_path, json.dumps({
        "a": {"file_name": "a.json", "formatting": "ShareGPT"},
        "b": {"file_name": "a.json", "ranking": "true", "formatting": "sharegpt",
              "columns": {"messages": "m", "chosen": "c", "rejected": "r"}},
        "c": {"file_name": "a.json", "num_samples": "10"},
        "d": {"file_name": "a.json", "num_samples": 0},
        "e": {"file_name": "a.json", "split": "test", "subset": "en"},
        "f": {"file_name": 5},
    }, indent=1))
    by_code = {d.code: d for d in registry.diagnostics}
    assert "'sharegpt'" in by_code["DI114"].message and (by_code["DI114"].line, by_code["DI114"].column) == (4, 17)
    assert by_code["DI115"].dataset == "b" and by_code["DI115"].line == 8
    assert [d.dataset for d in registry.diagnostics if d.code == "DI117"] == ["c", "d"]
    assert by_code["DI118"].dataset == "e" and by_code["DI119"].dataset == "e"
    assert by_code["DI005"].dataset == "f" and "file_name is an integer" in by_code["DI005"].message


def test_sources(tmp_path):
    registry = _registry(tmp_path, json.dumps({
        "none": {"formatting": "alpaca"},
        "shadow": {"hf_hub_url": "o/a", "ms_hub_url": "o/a", "file_name": "a.json"},
        "cloud": {"cloud_file_name": "http://x/a.json"},
    }))
    assert [d.dataset for d in registry.diagnostics if d.code == "DI105"] == ["none"]
    shadowed = [d for d in registry.diagnostics if d.code == "DI106"]
    assert [d.dataset for d in shadowed] == ["shadow"] and shadowed[0].message.startswith("file_name is ignored")
    assert sorted(d.dataset for d in registry.diagnostics if d.code == "DI107") == ["cloud", "shadow"]
    assert [d.dataset for d in registry.diagnostics if d.code == "DI109"] == ["cloud"]


def test_partial_columns_and_tags(tmp_path):
    registry = _registry(tmp_path, json.dumps({
        "sg": {"file_name": "a.json", "formatting": "sharegpt", "columns": {"images": "images"}},
        "tags": {"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "a"}},
        "rank": {"file_name": "a.json", "ranking": True},
        "alp": {"file_name": "a.json", "columns": {"prompt": "q", "response": "r"}},
    }))
    assert [d.dataset for d in registry.diagnostics if d.code == "DI110"] == ["sg"]
    assert [d.dataset for d in registry.diagnostics if d.code == "DI112"] == []
    assert [d.dataset for d in registry.diagnostics if d.code == "DI116"] == ["rank"]
    # local data: whether a reset matters is judged on the data (DS013, role rules), not announced here
    assert [d.dataset for d in registry.diagnostics if d.code == "DI111"] == []
    hub = _registry(tmp_path, json.dumps({
        "tags": {"hf_hub_url": "o/d", "formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "a"}},
        "alp": {"hf_hub_url": "o/d", "columns": {"prompt": "q", "response": "r"}},
    }))
    infos = {d.dataset: d.message for d in hub.diagnostics if d.code == "DI111"}
    assert "system_tag" in infos["tags"] and "query (default 'input')" in infos["alp"]


def test_loading_script(tmp_path):
    registry = _registry(tmp_path, '{"s": {"script_url": "mine"}, "ok": {"script_url": "plain"}}')
    assert registry.diagnostics == [] or all(d.dataset != "s" for d in registry.diagnostics if d.code == "DI108")
    (tmp_path / "data" / "mine").mkdir()
    (tmp_path / "data" / "mine" / "mine.py").write_text("import datasets\n")
    registry = _registry(tmp_path, '{"s": {"script_url": "mine"}, "ok": {"script_url": "plain"}}')
    assert [d.dataset for d in registry.diagnostics if d.code == "DI108"] == ["s"]


def test_stage_rules_through_a_config(project):
    root = project({
        "data/dataset_info.json": json.dumps({"k": {"file_name": "a.json"},
                                              "p": {"file_name": "a.json", "columns": {"prompt": "instruction"}}}),
        "data/a.json": ALPACA,
        "kto.yaml": "model_name_or_path: m\nstage: kto\ndataset: k\ntemplate: qwen\nfinetuning_type: lora\n"
                    "output_dir: o\n",
        "sft.yaml": "model_name_or_path: m\nstage: sft\ndataset: p\ntemplate: qwen\nfinetuning_type: lora\n"
                    "output_dir: o\n",
    })
    _, report = check_json(".", cwd=root)
    assert [(d["dataset"], d["file"]) for d in find(report, "DI121")] == [("k", "data/dataset_info.json")]
    assert [d["dataset"] for d in find(report, "DI122")] == ["p"]


def test_corpus_registry_matches_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from conftest import CORPUS
    from lfgate.validator.dataset_info import schema

    if not CORPUS.is_dir():
        oracle_missing("corpus not available")
    data = json.loads((CORPUS / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema()).validate(data)


def test_schema_command_prints_the_dataset_info_schema():
    from helpers import run_cli

    code, out, _ = run_cli("schema", "dataset_info")
    assert code == 0 and json.loads(out)["$defs"]["columns"]["properties"]["kto_tag"]


@pytest.mark.parametrize("raw", [
    {"file_name": 5},
    {"file_name": "", "columns": {"prompt": ["x"], "query": None}, "tags": "role"},
    {"hf_hub_url": None, "subset": 1, "folder": [], "split": 2, "columns": {"images": {"a": 1}}},
    {"file_name": "a.json", "tags": {"role_tag": 1, "content_tag": None}},
])
def test_type_checks_agree_with_jsonschema(raw):
    jsonschema = pytest.importorskip("jsonschema")
    from lfgate.validator.dataset_info import _type_errors, schema

    full = schema()
    validator = jsonschema.Draft202012Validator(dict(full["$defs"]["entry"], **{"$defs": full["$defs"]}))
    expected = sorted(tuple(e.path) for e in validator.iter_errors(raw) if e.validator in ("type", "minLength"))
    assert sorted(path for path, _ in _type_errors(raw)) == expected


def test_a_datasets_cache_metadata_file_is_not_a_registry(tmp_path):
    registry = _registry(tmp_path, json.dumps({"description": "", "citation": "", "builder_name": "json",
                                               "features": {"a": {"dtype": "string", "_type": "Value"}},
                                               "splits": {"train": {"name": "train"}}}))
    assert registry.diagnostics == [] and registry.entries == {}


def _where(text, needle, after=""):
    """1-based (line, column) of needle's first occurrence after the first occurrence of `after`."""
    start = text.index(after) if after else 0
    offset = text.index(needle, start)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_every_registry_rule_points_at_its_key_or_value(tmp_path):
    entries = {
        "str": "a.json",
        "nosrc": {"formatting": "alpaca"},
        "shadow": {"script_url": "s", "file_name": "a.json"},
        "hub": {"hf_hub_url": "org/x"},
        "cloud": {"cloud_file_name": "ftp://x/a.json"},
        "sg": {"file_name": "a.json", "formatting": "sharegpt", "columns": {"images": "im"},
               "tags": {"role_tag": "role", "content_tag": "content"}},
        "rank": {"file_name": "a.json", "ranking": True, "columns": {"prompt": "p", "response": "r"}},
        "ns": {"file_name": "a.json", "num_samples": -1},
        "split": {"file_name": "a.json", "split": "test", "folder": "f"},
        "alp": {"file_name": "a.json", "tags": {"role_tag": "r"}},
        "typ": {"file_name": "a.json", "subset": 3},
    }
    text = json.dumps(entries, indent=1)
    registry = _registry(tmp_path, text)
    got = {(d.code, d.dataset): (d.line, d.column) for d in registry.diagnostics}
    expected = {
        ("DI003", "str"): _where(text, '"str"'),
        ("DI105", "nosrc"): _where(text, '"nosrc"'),
        ("DI106", "shadow"): _where(text, '"file_name"', '"shadow"'),
        ("DI107", "hub"): _where(text, '"hf_hub_url"', '"hub"'),
        ("DI107", "cloud"): _where(text, '"cloud_file_name"', '"cloud"'),
        ("DI109", "cloud"): _where(text, '"ftp://x/a.json"'),
        ("DI110", "sg"): _where(text, '"columns"', '"sg"'),
        ("DI112", "sg"): _where(text, '"tags"', '"sg"'),
        ("DI116", "rank"): _where(text, '"columns"', '"rank"'),
        ("DI117", "ns"): _where(text, "-1", '"ns"'),
        ("DI118", "split"): _where(text, '"test"'),
        ("DI119", "split"): _where(text, '"folder"', '"split"'),
        ("DI120", "alp"): _where(text, '"tags"', '"alp"'),
        ("DI005", "typ"): _where(text, "3", '"subset"'),
    }
    for key, place in expected.items():
        assert got.get(key) == place, (key, got.get(key), place)


def test_registry_not_object_and_bad_source_type_places(tmp_path):
    registry = _registry(tmp_path, '\n  ["a"]')
    assert [(d.code, d.line, d.column) for d in registry.diagnostics] == [("DI002", 2, 3)]


from hypothesis import given, settings, strategies as st  # noqa: E402

_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["a.json", "sharegpt", "alpaca", "ShareGPT", "train", "test", "s3://b/a.json", "", "../a.json", "x"]))
_KEYS = st.sampled_from(["file_name", "formatting", "ranking", "columns", "tags", "split", "num_samples",
                         "hf_hub_url", "script_url", "cloud_file_name", "subset", "folder", "prompt", "messages",
                         "role_tag", "user_tag", "chosen", "rejected", "kto_tag", "fomatting", "instruction"])
_VALUE = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(_KEYS, inner, max_size=5)), max_leaves=12)


@settings(max_examples=120, deadline=None)
@given(registry=st.dictionaries(st.sampled_from(["a", "b", "c"]), _VALUE, max_size=3))
def test_any_registry_gives_diagnostics_never_an_exception(registry, tmp_path_factory):
    from lfgate.validator import datasets

    root = tmp_path_factory.mktemp("reg")
    (root / "data").mkdir()
    (root / "data" / "a.json").write_text(ALPACA, encoding="utf-8")
    (root / "data" / "dataset_info.json").write_text(json.dumps(registry), encoding="utf-8")
    loaded = load_registry(str(root / "data" / "dataset_info.json"), Settings())
    for entry in loaded.entries.values():
        result = datasets.check_entry(entry, datasets.DatasetUsage(), Settings(workers=1))
        assert all(d.code and d.message for d in result.diagnostics)
