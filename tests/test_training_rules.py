"""Training-YAML rules (TY*): positions, messages, overrides, engines, the version switch, all-at-once."""

import json
import os
import subprocess
import sys

import pytest

from conftest import oracle_missing, write_project
from helpers import check_json, codes, find, skip_unless_installed
from lfgate.registry import all_rules
from lfgate.validator import train_schema, training
from lfgate.validator.training.values import _output_dir_mismatch

all_rules()

BASE = training.BASE + "dataset: alpaca_en_demo\n"


def check(tmp_path, text, *args, name="train.yaml", files=None):
    write_project(tmp_path, {name: text, **(files or {})})
    _, report = check_json(name, *args, cwd=tmp_path)
    return report


def line_of(text, key):
    for number, line in enumerate(text.splitlines(), 1):
        if line.split(":")[0].strip() == key:
            return number
    raise AssertionError(f"{key} not in text")


# -- every LLaMA-Factory parse check fires at one of its keys ---------------------------------------------------
@pytest.mark.parametrize("check_", training.PARSE_CHECKS, ids=lambda c: c.rule.code)
def test_parse_check_is_reported_at_its_key(check_, tmp_path):
    write_project(tmp_path, dict(check_.rule.bad))
    _, report = check_json("train.yaml", cwd=tmp_path)
    hits = find(report, check_.rule.code)
    assert len(hits) == 1, report["diagnostics"]
    text = check_.rule.bad["train.yaml"]
    present = [k for k in check_.keys if any(line.split(":")[0] == k for line in text.splitlines())]
    if present:
        assert hits[0]["line"] == line_of(text, present[0])
        assert hits[0]["column"] == 1
    assert hits[0]["file"] == "train.yaml"


def test_all_checks_are_reported_together(tmp_path):
    text = BASE + "bf16: true\nfp16: true\nstreaming: true\nmask_history: true\ntrain_on_prompt: true\nlearning_rat: 1\n"
    report = check(tmp_path, text)
    assert {"TY315", "TY335", "TY310", "TY101"} <= codes(report)


# -- keys ---------------------------------------------------------------------------------------------------------
def test_unknown_key_suggests_the_closest(tmp_path):
    text = BASE + "learning_rat: 1.0e-4\n"
    [hit] = find(check(tmp_path, text), "TY101")
    assert hit["line"] == line_of(text, "learning_rat") and "`learning_rate`" in hit["message"]
    assert hit["severity"] == "error"


def test_removed_renamed_derived_and_eval_only_keys_have_their_own_messages(tmp_path):
    text = BASE + "no_cuda: true\ndpo_beta: 0.1\ncompute_dtype: bfloat16\nn_shot: 5\n"
    report = check(tmp_path, text)
    assert "transformers 5.0" in find(report, "TY102")[0]["message"]
    assert "use_cpu: true" in find(report, "TY102")[0]["message"]
    assert "`pref_beta`" in find(report, "TY103")[0]["message"]
    assert find(report, "TY105")[0]["line"] == line_of(text, "compute_dtype")
    assert find(report, "TY108")[0]["line"] == line_of(text, "n_shot")
    assert "TY101" not in codes(report)


def test_inference_only_key_in_training_is_a_warning(tmp_path):
    text = BASE + "vllm_maxlen: 4096\n"
    [hit] = find(check(tmp_path, text), "TY106")
    assert hit["severity"] == "warning" and hit["line"] == line_of(text, "vllm_maxlen")


def test_inference_config_is_checked_against_the_chat_entry_point(tmp_path):
    infer = "model_name_or_path: Qwen/Qwen3-4B\ntemplate: qwen3\ninfer_backend: vllm\nvllm_maxlen: 4096\n"
    report = check(tmp_path, infer, name="chat.yaml")
    assert not [d for d in report["diagnostics"] if d["severity"] != "info"], report["diagnostics"]
    export = "model_name_or_path: m\ntemplate: qwen\nexport_dir: out\nlearning_rate: 1.0e-4\n"
    [hit] = find(check(tmp_path, export, name="export.yaml"), "TY107")
    assert hit["line"] == 4 and "export" in hit["message"]


def test_version_switch_decides_newer_keys(tmp_path):
    text = BASE + "use_kt: true\nkt_cpu_activation: retain\n"
    old = check(tmp_path, text, "--llamafactory-version", "0.9.5")
    [hit] = find(old, "TY104")
    assert hit["line"] == line_of(text, "kt_cpu_activation")
    # 0.9.6 is not released: the message names LLaMA-Factory's main branch, never "0.9.6" as if users had it
    assert "main branch (after 0.9.5, unreleased)" in hit["message"] and "0.9.6" not in hit["message"]
    assert "TY104" not in codes(check(tmp_path, text, "--llamafactory-version", "0.9.6.dev0"))
    assert "TY104" not in codes(check(tmp_path, text, "--llamafactory-version", "0.9.6"))


def test_default_version_is_installed_else_newest(monkeypatch):
    monkeypatch.setattr(train_schema, "installed_llamafactory", lambda: None)
    from lfgate.settings import Settings
    assert train_schema.target_version(Settings())[0] == train_schema.train_schema()["x-newest-known-version"]
    monkeypatch.setattr(train_schema, "installed_llamafactory", lambda: "0.9.5")
    assert train_schema.target_version(Settings()) == ("0.9.5", "the installed llamafactory")
    assert train_schema.target_version(Settings(llamafactory_version="0.9.4"))[0] == "0.9.4"


# -- engines and non-configs ---------------------------------------------------------------------------------------
def test_v1_config_is_recognised_not_flagged(tmp_path):
    text = "model: Qwen/Qwen3-4B\nmodel_class: llm\npeft_config:\n  name: lora\ntrain_dataset: data/x.yaml\n"
    report = check(tmp_path, text)
    # no v0 rule; data/x.yaml is not here, which v1 would read as a hub path (TY603, a warning)
    assert codes(report) == {"TY007", "TY603"} and "USE_V1=1" in find(report, "TY007")[0]["message"]


def test_megatron_configs_keep_their_engine_keys(tmp_path):
    mca = BASE + "tensor_model_parallel_size: 4\nsequence_parallel: true\napply_rope_fusion: true\n"
    report = check(tmp_path, mca)
    assert "TY101" not in codes(report) and "USE_MCA=1" in find(report, "TY007")[0]["message"]
    bridge = BASE + "use_packed_sequences: false\nmixed_precision: bf16_mixed\n"
    report = check(tmp_path, bridge, "--llamafactory-version", "0.9.6")
    assert "TY101" not in codes(report) and "TY104" not in codes(report)
    assert "USE_MEGATRON_BRIDGE=1" in find(report, "TY007")[0]["message"]
    assert len(find(check(tmp_path, bridge, "--llamafactory-version", "0.9.5"), "TY104")) == 2


def test_non_llamafactory_yamls_are_not_configs(tmp_path):
    files = {"accelerate.yaml": "compute_environment: LOCAL_MACHINE\ndebug: false\ndistributed_type: FSDP\n",
             "tokens.yaml": '"<|a|>": "a token"\n', "list.yaml": "- a\n- b\n"}
    write_project(tmp_path, files)
    _, report = check_json(".", cwd=tmp_path)
    [passed] = report["diagnostics"]  # one info naming what was passed over: nothing is skipped silently
    assert passed["code"] == "TY009" and passed["severity"] == "info"
    assert all(name in passed["message"] for name in files)


def test_broken_yaml_that_looks_like_a_config_is_reported(tmp_path):
    text = "model_name_or_path: m\nstage: [sft\n"
    [hit] = find(check(tmp_path, text), "TY001")
    assert hit["line"] is not None and hit["severity"] == "error"
    assert find(check(tmp_path, "a: 1\n---\nb: 2\n", name="other.yaml"), "TY001") == []


# -- the file itself -----------------------------------------------------------------------------------------------
def test_duplicate_key_is_an_error_at_the_second(tmp_path):
    text = BASE + "learning_rate: 1.0e-4\nlearning_rate: 2.0e-5\n"
    [hit] = find(check(tmp_path, text), "TY002")
    assert hit["line"] == len(text.splitlines()) and f"line {len(text.splitlines()) - 1}" in hit["message"]


def test_tag_and_alias_bomb(tmp_path):
    text = BASE + "learning_rate: !!python/object/apply:os.system ['true']\n"
    [hit] = find(check(tmp_path, text), "TY003")
    assert hit["line"] == len(text.splitlines()) and hit["column"] == 16
    bomb = BASE + 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))
    assert "TY004" in codes(check(tmp_path, bomb))


# -- values --------------------------------------------------------------------------------------------------------
def test_omegaconf_floats_are_not_type_errors(tmp_path):
    report = check(tmp_path, BASE + "learning_rate: 2e-5\nweight_decay: 1e-2\n")
    assert "TY201" not in codes(report)


def test_quoted_numbers_booleans_and_words(tmp_path):
    text = BASE + 'learning_rate: "1e-4"\nbf16: "false"\nnum_train_epochs: three\n'
    hits = {h["line"]: h["message"] for h in find(check(tmp_path, text), "TY201")}
    assert "unquoted" in hits[line_of(text, "learning_rate")]
    assert "treats as true" in hits[line_of(text, "bf16")]
    assert "word" in hits[line_of(text, "num_train_epochs")]


def test_lists_are_fine_for_comma_keys(tmp_path):
    report = check(tmp_path, BASE + "lora_target: [q_proj, v_proj]\n")
    assert "TY201" not in codes(report)


def test_enums_stage_and_template(tmp_path):
    text = BASE.replace("stage: sft", "stage: sftt").replace("template: qwen", "template: qwen25") + \
        "lr_scheduler_type: cosin\nmix_strategy: interleave\n"
    report = check(tmp_path, text)
    by_line = {h["line"]: h for h in find(report, "TY202")}
    assert by_line[line_of(text, "stage")]["severity"] == "error"
    assert "`cosine`" in by_line[line_of(text, "lr_scheduler_type")]["message"]
    assert by_line[line_of(text, "mix_strategy")]["severity"] == "warning"  # not checked by LLaMA-Factory
    [template] = find(report, "TY203")
    assert template["line"] == line_of(text, "template") and "`qwen`" in template["message"]


def test_newer_template_needs_newer_version(tmp_path):
    text = BASE.replace("template: qwen", "template: moss_vl")
    assert "needs LLaMA-Factory main branch" in find(check(tmp_path, text, "--llamafactory-version", "0.9.5"),
                                                "TY203")[0]["message"]
    assert "TY203" not in codes(check(tmp_path, text, "--llamafactory-version", "0.9.6"))


# -- what LLaMA-Factory never checks --------------------------------------------------------------------------------
def test_unchecked_rules(tmp_path):
    text = BASE.replace("do_train: true\n", "") + "max_samples: 0\nlearning_rate: 1.0e+4\n"
    report = check(tmp_path, text)
    assert find(report, "TY210")[0]["severity"] == "warning"
    assert find(report, "TY211")[0]["line"] == line_of(text, "max_samples")
    assert find(report, "TY213")[0]["line"] == line_of(text, "learning_rate")


def test_deepspeed_file_missing_and_invalid(tmp_path):
    text = BASE + "deepspeed: ds.json\n"
    [hit] = find(check(tmp_path, text), "TY212")
    assert "looked at ds.json" in hit["message"] and str(tmp_path) not in hit["message"]  # relative (issue 21)
    assert hit["line"] == line_of(text, "deepspeed")
    [hit] = find(check(tmp_path, text, files={"ds.json": "{not json"}), "TY212")
    assert "not a valid JSON" in hit["message"]
    assert "TY212" not in codes(check(tmp_path, text, files={"ds.json": '{"zero_optimization": {"stage": 2}}'}))


def test_output_dir_naming_another_model(tmp_path):
    text = BASE.replace("saves/qwen2.5-0.5b", "saves/llama3-8b")
    [hit] = find(check(tmp_path, text), "TY214")
    assert "Llama" in hit["message"] and "Qwen" in hit["message"] and hit["line"] == line_of(text, "output_dir")
    assert "TY214" not in codes(check(tmp_path, BASE.replace("saves/qwen2.5-0.5b", "saves/my-run")))


def test_output_dir_with_weights_or_checkpoints(tmp_path):
    weights = {"saves/qwen2.5-0.5b/lora/sft/adapter_model.safetensors": "x"}
    assert find(check(tmp_path, BASE, files=weights), "TY360")[0]["severity"] == "error"
    assert "TY360" not in codes(check(tmp_path, BASE + "overwrite_output_dir: true\n", files=weights))
    ckpt = {"saves/qwen2.5-0.5b/lora/sft/checkpoint-20/x": "x", "saves/qwen2.5-0.5b/lora/sft/checkpoint-100/x": "x"}
    [hit] = find(check(tmp_path, BASE + "", files=ckpt), "TY361")
    assert "checkpoint-100" in hit["message"]


# -- command-line overrides -------------------------------------------------------------------------------------------
def test_overrides_are_merged_and_point_at_the_command_line(tmp_path):
    text = BASE + "bf16: true\nlearning_rate: 1.0e-4\n"
    report = check(tmp_path, text, "fp16=true", "learning_rat=1e-5", "learning_rate=5")
    [both] = find(report, "TY315")
    assert both["file"] == "<command line>" and both["message"].endswith("(command line: fp16=true)")
    [unknown] = find(report, "TY101")
    assert unknown["file"] == "<command line>" and "`learning_rate`" in unknown["message"]
    [lr] = find(report, "TY213")
    assert lr["file"] == "<command line>" and "5" in lr["message"]
    assert "TY201" not in codes(check(tmp_path, text, "learning_rate=2e-5"))  # parsed like OmegaConf.from_cli


# -- the lint path -----------------------------------------------------------------------------------------------------
def test_lint_path_imports_nothing_heavy(tmp_path):
    write_project(tmp_path, {"train.yaml": BASE + "learning_rate: 1.0e-4\n"})
    code = ("import sys\nfrom lfgate.cli import main\nmain(['check', '--format', 'json', 'train.yaml'])\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'pandas', 'tokenizers', 'llamafactory') "
            "if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stderr, out.stderr


def test_schema_is_loaded_once_for_many_configs(tmp_path):
    train_schema._load.cache_clear()
    write_project(tmp_path, {f"c{i}/train.yaml": BASE for i in range(30)})
    check_json(".", cwd=tmp_path)
    assert train_schema._load.cache_info().misses <= 2  # train.schema.json and templates.json


def test_schema_is_valid_and_complete():
    import jsonschema

    schema = train_schema.train_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert schema["x-llamafactory-version"] == "0.9.5"
    assert props["learning_rate"]["type"] == ["number", "integer"] and props["learning_rate"]["default"] == 5e-05
    assert "cosine" in props["lr_scheduler_type"]["enum"] and props["lr_scheduler_type"]["x-enum-enforced"]
    assert props["kt_cpu_activation"]["x-since"] == "0.9.6"
    assert props["mixed_precision"]["x-engine"] == "megatron_bridge"
    assert "compute_dtype" not in props and "compute_dtype" in schema["x-not-settable"]


def test_schema_knows_every_key_of_the_0_9_5_dump():
    spec_path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "spec", "llamafactory-0.9.5-args.json")
    if not os.path.isfile(spec_path):
        oracle_missing("../shared/spec is not available")
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    assert set(spec["train_keys"]) <= set(train_schema.train_schema()["properties"])


# -- robustness: any value of any key is reported, never a crash ---------------------------------------------------------
from hypothesis import given, strategies as st  # noqa: E402

_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True)
                       | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
_KEYS = st.sampled_from(sorted(train_schema.properties()) + ["stage", "dataset", "cutoff_len", "template"])


@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_any_values_give_diagnostics_not_crashes(tmp_path_factory, values):
    from lfgate.settings import Settings
    from lfgate.validator import links

    folder = tmp_path_factory.mktemp("fuzz")
    values = {"model_name_or_path": "m", **values}
    path = folder / "train.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    config = training.load_config(str(path), str(folder), Settings())
    assert config is not None
    training.check_config(config, Settings())
    list(links.dataset_usages(config, None, Settings()))
    links.check_links(config, None, None, {}, Settings())


def test_output_dir_family_overlap_is_not_a_mismatch():
    assert _output_dir_mismatch("saves/deepseek-r1-7b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") is None
    assert _output_dir_mismatch("saves/llama3-8b/lora", "Qwen/Qwen3-8B") == ("Llama", "Qwen")


# -- every TY/LK rule's finding sits at a key its message names ----------------------------------------------------------
_FILE_LEVEL = {"TY007", "TY008", "TY009", "TY011", "TY013", "TY016", "TY301"}  # the whole file, or a missing key
_PROJECT_LEVEL = {"TY010", "TY015"}  # about the project: at the first file they name
# About the whole run, or a default value the config does not write: anchored at `do_train`/`stage`.
_RUN_LEVEL = {"LK040", "LK043", "TY204", "TY210"}


# `lfgate check` rules; a `lfgate train` rule's examples run in tests/test_rule_examples.py
@pytest.mark.parametrize("code", sorted(c for c, r in all_rules().items() if c[:2] in ("TY", "LK")
                                        and r.command == "check"))
def test_bad_example_is_reported_at_a_key_the_message_names(code, tmp_path, monkeypatch):
    rule = all_rules()[code]
    skip_unless_installed(rule)
    for name, value in rule.env.items():  # the environment the example is declared under (as test_rule_examples)
        monkeypatch.setenv(name, value)
    write_project(tmp_path, dict(rule.bad))
    _, report = check_json(rule.target or ".", *rule.args, cwd=tmp_path)
    hits = find(report, code)
    assert hits, report["diagnostics"]
    hit = hits[0]
    text = rule.bad.get(hit["file"] or "", "")
    if code in _PROJECT_LEVEL:
        assert hit["file"] and hit["line"] is None
        return
    if code in _FILE_LEVEL:
        assert hit["file"] == rule.target and hit["line"] is None
        return
    assert hit["line"] is not None and hit["column"] is not None, hit
    if code == "TY001":  # a syntax error may sit past the last line (the end of the stream)
        return
    written = text.splitlines()[hit["line"] - 1]
    if code in _RUN_LEVEL:
        assert written.split(":")[0] in ("do_train", "stage"), written
        return
    key = written.split(":")[0].strip().lstrip("? ").strip().strip('"')  # a YAML key, or a JSON one
    assert f"`{key}" in hit["message"] or key in hit["message"] or code in ("TY004", "TY006"), (written, hit)


def test_allow_extra_args_turns_unknown_keys_into_warnings(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOW_EXTRA_ARGS", "1")
    [hit] = find(check(tmp_path, BASE + "learning_rat: 1\n"), "TY101")
    assert hit["severity"] == "warning" and "ALLOW_EXTRA_ARGS" in hit["message"]


def test_export_config_with_stage_is_an_export_config(tmp_path):
    text = "model_name_or_path: m\ntemplate: qwen\nexport_dir: out\nstage: sft\nfinetuning_type: lora\ndataset: a\n"
    report = check(tmp_path, text, name="export.yaml")
    assert not {"TY106", "TY210", "TY336"} & codes(report), report["diagnostics"]


def test_a_config_written_as_a_list_is_reported(tmp_path):
    [hit] = find(check(tmp_path, "- model_name_or_path: m\n- stage: sft\n"), "TY001")
    assert hit["line"] == 1 and "list" in hit["message"]


def test_removed_key_is_a_warning_where_transformers_4_is_installed(tmp_path, monkeypatch):
    """TY102 is an error for transformers 5 (LLaMA-Factory rejects the key), a warning when 4.x is installed."""
    from helpers import check_json
    from lfgate.validator.training import keys

    (tmp_path / "train.yaml").write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ndo_train: true\n"
                                         "output_dir: out\nfsdp_transformer_layer_cls_to_wrap: Qwen2DecoderLayer\n")
    monkeypatch.setattr(keys, "_installed_transformers", lambda: (4, 57))
    _, report = check_json("train.yaml", cwd=tmp_path)
    [d] = [d for d in report["diagnostics"] if d["code"] == "TY102"]
    assert d["severity"] == "warning" and "4.57" in d["message"] and d["line"] == 5
    monkeypatch.setattr(keys, "_installed_transformers", lambda: (5, 6))
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert [d["severity"] for d in report["diagnostics"] if d["code"] == "TY102"] == ["error"]
