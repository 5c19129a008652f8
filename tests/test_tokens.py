"""Token counts users can trust with no model on the machine (lfgate/tokens, lfgate/hub_cache.py)."""

import json
import os
import statistics
import sys

import pytest

from conftest import ROOT, corpus_case_missing, write_project
from helpers import check_json, find, run_cli
from lfgate import hub_cache
from lfgate.tokens import counters, report
from lfgate.tokens.counters import BUNDLED, ESTIMATE, FILE, Spec
from lfgate.tokens.families import family_of
from lfgate.tokens.sample import Plan, measure, plan_for

sys.path.insert(0, str(ROOT / "scripts"))
import seed_like_dataset  # noqa: E402
from token_helpers import SHARED_QWEN  # noqa: E402

MODEL = "Qwen/Qwen2.5-14B-Instruct"


def _no_caches(monkeypatch, tmp_path):
    """No tokenizer anywhere on this machine: every cache points into an empty folder."""
    for name in ("HF_HUB_CACHE", "HF_HOME", "MODELSCOPE_CACHE", "USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB",
                 "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _write(path, text="{}"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


# -- where the tokenizer is ----------------------------------------------------------------------------------------
def test_hugging_face_cache_at_the_revision_asked_for(tmp_path):
    root = tmp_path / "hub" / "models--Qwen--Qwen2.5-14B-Instruct"
    _write(root / "refs" / "main", "a" * 40)
    _write(root / "refs" / "v2", "b" * 40)
    main = _write(root / "snapshots" / ("a" * 40) / "tokenizer.json")
    v2 = _write(root / "snapshots" / ("b" * 40) / "tokenizer.json")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HOME": str(tmp_path)}
    assert hub_cache.find_tokenizer(MODEL, env=env).path == main
    found = hub_cache.find_tokenizer(MODEL, revision="v2", env=env)
    assert found.path == v2 and found.origin == hub_cache.HF_CACHE
    assert hub_cache.find_tokenizer(MODEL, revision="v3", env=env) is None  # never another revision's files
    assert hub_cache.find_tokenizer(MODEL, env={"HF_HOME": str(tmp_path / "x"), "HOME": str(tmp_path)}) is None
    # cache_dir in the config replaces the cache root, as from_pretrained(cache_dir=...) does
    assert hub_cache.find_tokenizer(MODEL, cache_dir=str(tmp_path / "hub"), env={"HOME": "/nowhere"}).path == main


@pytest.mark.parametrize("layout", [
    ("models", "Qwen--Qwen2.5-14B-Instruct", "snapshots", "master"),  # modelscope_hub (SDK >= 1.38)
    ("models", "Qwen", "Qwen2___5-14B-Instruct"),  # the SDK's older layout, MODELSCOPE_CACHE set
    ("hub", "models", "Qwen", "Qwen2___5-14B-Instruct"),  # the older default root, ~/.cache/modelscope/hub
])
def test_modelscope_cache_in_both_layouts_only_when_llamafactory_uses_it(tmp_path, layout):
    path = _write(tmp_path.joinpath("ms", *layout, "tokenizer.json"))
    env = {"MODELSCOPE_CACHE": str(tmp_path / "ms"), "HF_HUB_CACHE": str(tmp_path / "hf"), "HOME": str(tmp_path)}
    assert hub_cache.find_tokenizer(MODEL, env=env) is None  # USE_MODELSCOPE_HUB unset: LLaMA-Factory asks HF
    found = hub_cache.find_tokenizer(MODEL, env={**env, "USE_MODELSCOPE_HUB": "1"})
    assert found.path == path and "the ModelScope cache" in found.where
    home = {"HOME": str(tmp_path / "h"), "USE_MODELSCOPE_HUB": "true", "HF_HUB_CACHE": str(tmp_path / "hf")}
    default = _write(tmp_path.joinpath("h", ".cache", "modelscope", *layout, "tokenizer.json"))
    assert hub_cache.find_tokenizer(MODEL, env=home).path == default  # MODELSCOPE_CACHE's default


def test_openmind_cache_and_the_model_folder(tmp_path):
    repo = tmp_path / "xdg" / "openmind" / "hub" / "models--PyTorch-NPU--qwen2_5_7b_instruct"
    _write(repo / "refs" / "main", "c" * 40)
    path = _write(repo / "snapshots" / ("c" * 40) / "tokenizer.json")
    env = {"USE_OPENMIND_HUB": "1", "XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    found = hub_cache.find_tokenizer("PyTorch-NPU/qwen2_5_7b_instruct", env=env)
    assert found.path == path and found.origin == hub_cache.OPENMIND_CACHE
    folder = _write(tmp_path / "models" / "mine" / "tokenizer.json")
    assert hub_cache.find_tokenizer(str(tmp_path / "models" / "mine"), env=env).path == folder
    assert hub_cache.find_tokenizer(str(tmp_path / "models"), env=env) is None  # a folder is loaded as it is
    root = tmp_path / "xdg" / "openmind" / "hub"  # the one cache LLaMA-Factory loads from with USE_OPENMIND_HUB
    assert hub_cache.looked(MODEL, env=env) == [f"the openMind cache ({root})"]


def test_families_from_the_hub_id_config_and_template():
    assert family_of("Qwen/Qwen2.5-14B-Instruct").name == "qwen2"
    assert family_of("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B").name == "qwen2"  # a distilled Qwen keeps Qwen's
    assert family_of("meta-llama/Llama-3.1-8B-Instruct").name == "llama3"
    assert family_of("deepseek-ai/DeepSeek-V3").name == "deepseek3"
    assert family_of("Qwen/Qwen3.5-27B").name == "other"  # another vocabulary: not counted as Qwen2's
    assert family_of("models/x", {"model_type": "llama", "vocab_size": 128256}).name == "llama3"
    assert family_of("models/x", None, "glm4").name == "glm4"


# -- exact with the extra, with no tokenizer on disk ----------------------------------------------------------------
@pytest.fixture(scope="module")
def qwen_file(tmp_path_factory):
    """Qwen2.5's tokenizer.json built offline (tests/token_helpers.py)."""
    pytest.importorskip("quicktok")
    pytest.importorskip("tokenizers")
    from token_helpers import save_qwen25

    return save_qwen25(str(tmp_path_factory.mktemp("qwen") / "tokenizer.json"))


def _entry():
    from lfgate.tools.validate import entry_for

    return entry_for("d", {"file_name": "d.json"}, "dataset_info.json")


def _truth(records, plan: Plan, path: str, stage="sft") -> list:
    """Each record's Length counted with a tokenizer.json (the same layout: only the counter changes)."""
    from lfgate.validator.converter import align

    entry = _entry()
    real = counters.counter(Spec(FILE, plan.spec.family, path, "a test"))
    return [measure(align(r, entry), stage, plan, real) for r in records]


def _over(lengths, cutoff) -> int:
    return sum(1 for length in lengths if length is not None and round(length.total) > cutoff)


def test_seed_like_dataset_exact_with_the_extra_and_no_tokenizer_on_disk(tmp_path, monkeypatch, qwen_file):
    """Done means: within 1% of Qwen2.5's real tokenizer on the seed-like dataset (286 samples, cutoff 2048)."""
    _no_caches(monkeypatch, tmp_path)
    config = seed_like_dataset.build(str(tmp_path / "p"))
    _, report_ = check_json("train.yaml", cwd=str(tmp_path / "p"))
    [hit] = find(report_, "LK050")
    plan = plan_for({"model_name_or_path": MODEL, "template": "qwen", "cutoff_len": 2048})
    assert plan.spec.kind == BUNDLED and not plan.spec.qwen3  # a Qwen2.5: Qwen3's specials are spelled out
    truth = _over(_truth(seed_like_dataset.records(), plan, qwen_file), 2048)
    assert truth > 100  # the dataset puts many samples over the cutoff (and many near it)
    counted = hit["details"]["exceeding"]
    assert abs(counted - truth) <= 0.01 * truth, (counted, truth)
    assert hit["message"].startswith(f"dataset `reports`: {counted} of 286 samples exceed `cutoff_len: 2048`")
    assert "counted exactly with the Qwen2/2.5/3 vocabulary of lfgate[tokens]" in hit["message"]
    assert len(hit["details"]["samples"]) == counted and os.path.basename(config) == "train.yaml"


@pytest.mark.parametrize("kind", ["seed-like", "English", "code", "mixed"])
@pytest.mark.parametrize("family", ["qwen2", "llama3"])
def test_without_the_extra_the_band_holds_the_true_count(kind, family, qwen_file):
    """Done means: with no tokenizer and no extra, the estimate's band contains the true count, per calibrated
    family and make-up. The cutoff is put at the median true length: the hardest place for a band."""
    from token_helpers import made_up

    from lfgate.tools.stats import dataset_stats

    records = seed_like_dataset.records(60, seed=11) if kind == "seed-like" else made_up(kind, 60)
    template = "qwen" if family == "qwen2" else "llama3"
    exact = Plan(Spec(FILE, family, qwen_file) if family == "qwen2" else Spec(BUNDLED, family, "llama3"),
                 None, template, template)
    from lfgate.validator.converter import align

    entry = _entry()
    real = counters.counter(exact.spec)
    totals = [measure(align(r, entry), "sft", exact, real).total for r in records]
    cutoff = int(statistics.median(totals))
    truth = sum(1 for t in totals if round(t) > cutoff)
    plan = Plan(Spec(ESTIMATE, family), cutoff, template, template)
    stats = dataset_stats(entry, "sft", plan, {}, records=list(enumerate(records)))
    facts = stats.truncation.facts()
    assert facts["low"] <= truth <= facts["high"], (facts["low"], truth, facts["high"], facts["exceeding"])
    assert facts["high"] - facts["low"] < len(records)  # a band, not "anything"


def test_modelscope_cache_counts_exactly_and_the_finding_names_it(tmp_path, monkeypatch, qwen_file):
    _no_caches(monkeypatch, tmp_path)
    monkeypatch.setattr(counters, "_has_quicktok", lambda: False)  # not the extra: the cached tokenizer itself
    cache = tmp_path / "ms"
    target = cache / "models" / "Qwen" / "Qwen2___5-14B-Instruct" / "tokenizer.json"
    os.makedirs(target.parent)
    with open(qwen_file, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read())
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(cache))
    seed_like_dataset.build(str(tmp_path / "p"), samples=30)
    _, report_ = check_json("train.yaml", cwd=str(tmp_path / "p"))
    [hit] = find(report_, "LK050")
    assert f"tokenizer.json from the ModelScope cache ({cache})" in hit["message"]
    plan = plan_for({"model_name_or_path": MODEL, "template": "qwen", "cutoff_len": 2048})
    assert plan.spec.kind == FILE and plan.spec.path == str(target)
    assert hit["details"]["exceeding"] == _over(_truth(seed_like_dataset.records(30), plan, qwen_file), 2048)


# -- one count everywhere ---------------------------------------------------------------------------------------------
def test_check_stats_and_the_fast_path_give_one_count(tmp_path, monkeypatch):
    _no_caches(monkeypatch, tmp_path)
    project = tmp_path / "p"
    seed_like_dataset.build(str(project), samples=50, seed=3)
    _, fast = check_json("train.yaml", cwd=str(project))
    _, full = check_json("train.yaml", "--no-fast-path", cwd=str(project))
    [hit] = find(fast, "LK050")
    assert hit == find(full, "LK050")[0]
    code, out, err = run_cli("stats", "train.yaml", "--format", "json", cwd=str(project))
    assert code == 0, err
    [d] = json.loads(out)["datasets"]
    assert d["over_cutoff"] == hit["details"]["exceeding"] and d["unit"] == "tokens"
    assert d["over_cutoff_samples"] == hit["details"]["samples"]
    from lfgate.runner.data import Sample
    from lfgate.tokens.runs import summary

    records = seed_like_dataset.records(50, seed=3)
    samples = [Sample("reports", i, [{"role": "user", "content": r["instruction"] + "\n" + r["input"]}],
                      [{"role": "assistant", "content": r["output"]}], None, None) for i, r in enumerate(records)]
    dry = summary({"model_name_or_path": MODEL, "template": "qwen", "cutoff_len": 2048}, samples)
    assert dry["exceeding"] == d["over_cutoff"] and dry["samples"] == d["over_cutoff_samples"]


# -- what counts as prompt and response, and what is cut ---------------------------------------------------------------
@pytest.fixture()
def words(tmp_path):
    """A tokenizer.json of one token per word."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = tokenizers.Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    path = str(tmp_path / "words.json")
    tokenizer.save(path)
    return Spec(FILE, "other", path)


def _aligned(*turns):
    from lfgate.validator.converter import Aligned

    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return Aligned(messages[:-1], messages[-1:], None, None, [], [], [], False, [], [])


def test_mask_history_and_train_on_prompt_move_the_line_between_prompt_and_response(words):
    sample = _aligned("a a", "b b b", "c c c c", "d")
    count = counters.counter(words)
    plain = measure(sample, "sft", Plan(words), count)
    assert (plain.prompt, plain.response, plain.total) == (6, 4, 10)  # every assistant turn trains
    history = measure(sample, "sft", Plan(words, mask_history=True), count)
    assert (history.prompt, history.response) == (9, 1)  # the last answer only
    on_prompt = measure(sample, "sft", Plan(words, train_on_prompt=True), count)
    assert (on_prompt.prompt, on_prompt.response) == (0, 10)
    cut = measure(sample, "sft", Plan(words, cutoff_len=6, mask_history=True), count)
    assert cut.kept[-1] == (4, 1) and cut.kept[0] == (1, 0)  # the last turns keep their budget


def test_packing_truncates_at_one_less_and_prompt_cuts_scale_the_severity(tmp_path, monkeypatch, words):
    plan = plan_for({"cutoff_len": 100, "packing": True, "stage": "sft"})
    assert plan.cutoff_len == 99 and plan.packing  # DataArguments: cutoff_len -= 1; nothing is dropped
    tally = report.Truncation(5)
    count = counters.counter(words)
    for i in range(200):  # one sample of 200 loses only prompt tokens: under 1%, an info
        text = "p p p p p p p p" if i == 0 else "p"
        tally.add(i, measure(_aligned(text, "r"), "sft", Plan(words, cutoff_len=5), count))
    facts = tally.facts()
    assert (facts["exceeding"], facts["prompt_only"], facts["response_cut"]) == (1, 1, 0)
    assert report.severity_name(facts) == "info"
    assert facts["samples"] == [{"index": 0, "tokens": 9, "prompt": 8, "cut": "prompt"}]
    for i in (200, 201):
        tally.add(i, measure(_aligned("p p p p p p p p", "r"), "sft", Plan(words, cutoff_len=5), count))
    assert report.severity_name(tally.facts()) == "warning"  # 3 of 202: the model answers inputs it never saw


def test_max_samples_keeps_the_first_records_and_only_those_are_counted(tmp_path, monkeypatch):
    _no_caches(monkeypatch, tmp_path)
    project = tmp_path / "p"
    seed_like_dataset.build(str(project), samples=40, seed=5)
    with open(project / "train.yaml", "a", encoding="utf-8") as f:
        f.write("max_samples: 10\n")
    _, result = check_json("train.yaml", cwd=str(project))
    [limit] = find(result, "LK090")
    assert "keeps the first 10 of the 40 records of `reports`, in file order, not a random sample: 30 are left out" \
        in limit["message"]
    [hit] = find(result, "LK050")
    assert hit["details"]["counted"] == 10 and all(s["index"] < 10 for s in hit["details"]["samples"])


def test_without_the_extra_the_message_says_what_installing_it_gives(tmp_path, monkeypatch):
    _no_caches(monkeypatch, tmp_path)
    monkeypatch.setattr(counters, "_has_quicktok", lambda: False)
    seed_like_dataset.build(str(tmp_path / "p"), samples=40)
    _, result = check_json("train.yaml", cwd=str(tmp_path / "p"))
    [hit] = find(result, "LK050")
    assert "estimated for Qwen2/2.5/3, ±" in hit["message"] and "on number-heavy Chinese" in hit["message"]
    assert "`pip install 'lfgate[tokens]'` counts Qwen2/2.5/3 tokens exactly" in hit["message"]
    low, high = hit["details"]["low"], hit["details"]["high"]
    assert low <= hit["details"]["exceeding"] <= high and f"{low}–{high} of 40 samples" in hit["message"]


def test_a_project_without_tokenizer_or_cutoff_pressure_loads_no_tokenizer(tmp_path, monkeypatch):
    """Short records are proven within cutoff_len by their bytes: no vocabulary is loaded (check stays fast)."""
    _no_caches(monkeypatch, tmp_path)
    built = []
    monkeypatch.setattr(counters, "_build", lambda spec: built.append(spec) or counters.Counter(spec, len))
    rows = [{"conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": "answer"}]}
            for i in range(300)]
    write_project(tmp_path, {
        "data/dataset_info.json": json.dumps({"a": {"file_name": "a.jsonl", "formatting": "sharegpt"}}),
        "data/a.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
        "train.yaml": f"model_name_or_path: {MODEL}\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                      "dataset: a\ntemplate: qwen\noutput_dir: saves/a\n"})
    _, result = check_json("train.yaml", cwd=str(tmp_path))
    assert not find(result, "LK050") and built == []


def test_the_extra_and_the_built_tokenizer_equal_transformers_own_qwen25(qwen_file):
    """The oracle: transformers' own Qwen2.5 tokenizer (built from Qwen2's vocab.json and merges.txt, with
    Qwen2.5's added tokens) gives every text of the seed-like, English, code and mixed datasets the same count as
    lfgate's exact counter (quicktok) and as the tokenizer the tests build from the package's BPE."""
    from token_helpers import made_up
    from tokenizers import Tokenizer

    if not os.path.isfile(SHARED_QWEN):  # asked for in ../shared; until it is there, CI skips (as a corpus case)
        corpus_case_missing("../shared/tokenizers/qwen2.5/tokenizer.json not built yet")
    real = Tokenizer.from_file(SHARED_QWEN)
    built = counters.counter(Spec(FILE, "qwen2", qwen_file))
    extra = counters.counter(Spec(BUNDLED, "qwen2", "qwen3", qwen3=False))
    texts = [t for r in seed_like_dataset.records(60, seed=21) for t in r.values() if t]
    texts += [t for kind in ("English", "code", "mixed") for r in made_up(kind, 20) for t in r.values() if t]
    texts.append("<|im_start|>user\n<tool_call>x</tool_call> <think>no special in Qwen2.5</think><|im_end|>\n")
    for text in texts:
        truth = len(real.encode(text, add_special_tokens=False).ids)
        assert built.count(text) == truth and extra.count(text) == truth, text[:200]


def test_the_fast_gate_stops_counting_when_most_records_past_the_bytes_are_over(monkeypatch):
    """At a small cutoff_len nearly every record is past the byte bound and over: counting each in the fast gate
    too would count it twice. After GIVE_UP_AFTER such records with under a quarter proved within, the gate refuses
    at once; a record the bytes prove within still passes, so the gate stays sound and cheap."""
    from lfgate.tokens import budget as budget_module

    counted = []
    monkeypatch.setattr(counters, "_BUILT", {})
    monkeypatch.setattr(counters, "_build", lambda spec: counters.Counter(spec, lambda t: counted.append(t) or len(t)))
    gate = budget_module.Budget(Plan(Spec(ESTIMATE, "qwen2"), cutoff_len=50), "sft")
    long_text = "x" * 400
    for _ in range(200):
        assert not gate.within(long_text, 2, 0)
    assert budget_module.GIVE_UP_AFTER <= len(counted) <= budget_module.GIVE_UP_AFTER + 1
    assert gate.within("short", 2, 0)  # the bytes alone still prove a short record within


def test_the_fast_gate_keeps_counting_while_it_proves_records_within(monkeypatch):
    from lfgate.tokens import budget as budget_module

    counted = []
    # every text counts as 1 token: past the byte bound, yet always proved within by the count
    monkeypatch.setattr(counters, "_BUILT", {})
    monkeypatch.setattr(counters, "_build", lambda spec: counters.Counter(spec, lambda t: counted.append(t) or 1))
    gate = budget_module.Budget(Plan(Spec(ESTIMATE, "qwen2"), cutoff_len=50), "sft")
    assert all(gate.within("x" * 60, 2, 0) for _ in range(200))
    assert len(counted) == 200


def test_records_the_full_way_proved_within_by_their_bytes_load_no_vocabulary(tmp_path, monkeypatch):
    """A small project's records go the full way (a tiny file, a record another rule flags): those whose bytes
    prove them within cutoff_len are not counted, so `check` loads no vocabulary for them (its cold start)."""
    _no_caches(monkeypatch, tmp_path)
    built = []
    monkeypatch.setattr(counters, "_BUILT", {})
    monkeypatch.setattr(counters, "_build", lambda spec: built.append(spec) or counters.Counter(spec, len))
    rows = [{"instruction": f"question {i}", "input": "", "output": "" if i == 0 else "answer", "system": "Be brief."}
            for i in range(5)]
    write_project(tmp_path, {
        "data/dataset_info.json": json.dumps({"a": {"file_name": "a.json", "columns": {
            "prompt": "instruction", "query": "input", "response": "output", "system": "system"}}}),
        "data/a.json": json.dumps(rows),
        "train.yaml": f"model_name_or_path: {MODEL}\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                      "dataset: a\ntemplate: qwen\noutput_dir: saves/a\ncutoff_len: 1024\n"})
    _, result = check_json("train.yaml", cwd=str(tmp_path))
    assert find(result, "DS011") and not find(result, "LK050") and built == []
    (tmp_path / "train.yaml").write_text((tmp_path / "train.yaml").read_text().replace("1024", "4"))
    _, result = check_json("train.yaml", cwd=str(tmp_path))
    assert find(result, "LK050") and built  # past the bytes: counted
