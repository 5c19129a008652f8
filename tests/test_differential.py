"""Differential testing against LLaMA-Factory itself (issue 5). Skipped unless `llamafactory` is importable.

Generated projects, valid and with one targeted mutation, go through LLaMA-Factory's own loading, stage gate and
converter (`loader._get_merged_dataset` -> `align_dataset`) and then its stage processor, one sample at a time
(plus the whole dataset as one batch, as LLaMA-Factory maps it, for batch-level crashes such as KTO's). A tiny
byte-level tokenizer built here with `tokenizers` and the text-only `qwen` template stand in for a model: nothing
is downloaded. What LLaMA-Factory raises on, drops or crashes on must be what lfgate reports as an error.

Run it in the LLaMA-Factory venv:
    ../lfvenv/bin/pip install -e . --no-deps && ../lfvenv/bin/pip install rich orjson jsonschema pytest hypothesis
    ../lfvenv/bin/python -m pytest -q tests/test_differential.py
and the agreement table recorded in tests/README.md with:
    ../lfvenv/bin/python tests/test_differential.py 800
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Optional

import pytest

from conftest import import_oracle

if __name__ != "__main__":
    import_oracle("llamafactory")
for _name, _value in (("LLAMAFACTORY_VERBOSITY", "ERROR"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HUB_OFFLINE", "1"),
                      ("TRANSFORMERS_VERBOSITY", "error")):  # before llamafactory is imported (lazily, below)
    os.environ.setdefault(_name, _value)
sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import HealthCheck, given, note, settings, strategies as st  # noqa: E402

import strategies as S  # noqa: E402
from conftest import write_project  # noqa: E402
from helpers import check_json  # noqa: E402
from lfgate.validator.model import DATA_STAGE  # noqa: E402

pytestmark = pytest.mark.llamafactory

# text-only projects (a multimodal template needs a real processor) and dataset-side mutations only
KINDS = tuple(k for k in S.KINDS if k != "multimodal")
EXCLUDED_MUTATIONS = ("mistype_config_key",)


# -- LLaMA-Factory as the oracle ----------------------------------------------------------------------
@dataclass
class LFOutcome:
    raised: Optional[str] = None  # the whole dataset fails to load, convert or preprocess
    bad: Dict[int, str] = field(default_factory=dict)  # sample -> "dropped" or the exception it raises

    @property
    def clean(self) -> bool:
        return self.raised is None and not self.bad


_TOKENIZER = None


def tiny_tokenizer():
    """A byte-level BPE with no merges (every text tokenizes) and Qwen's special tokens."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        alphabet = sorted(set(pre_tokenizers.ByteLevel.alphabet()))
        tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        _TOKENIZER = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                             pad_token="<|endoftext|>",
                                             additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    return _TOKENIZER


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err)[:160]}"


def llamafactory_outcome(root: pathlib.Path, project: S.Project) -> LFOutcome:
    import datasets
    from llamafactory.data.loader import _get_dataset_processor, _get_merged_dataset
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    datasets.disable_progress_bars()
    stage = DATA_STAGE[project.config["stage"]]
    data_args = DataArguments(dataset=project.name, dataset_dir=str(root / S.DATA_DIR), template="qwen",
                              cutoff_len=project.config["cutoff_len"], overwrite_cache=True)
    model_args = ModelArguments(model_name_or_path="unused", cache_dir=str(root.parent / "hf-cache"))
    training_args = Seq2SeqTrainingArguments(output_dir=str(root.parent / "out"), report_to="none")
    outcome = LFOutcome()
    try:
        dataset = _get_merged_dataset([project.name], model_args, data_args, training_args, stage)
    except Exception as err:  # parser, stage gate, file loading (Arrow) or converter
        outcome.raised = _error(err)
        return outcome
    tokenizer = tiny_tokenizer()
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    processor = _get_dataset_processor(data_args, stage, template, tokenizer, None)
    kept = 0
    for i in range(len(dataset)):
        try:
            out = processor.preprocess_dataset(dataset[i:i + 1])
        except Exception as err:
            outcome.bad[i] = _error(err)
            continue
        if out and len(next(iter(out.values()))) > 0:
            kept += 1
        else:
            outcome.bad[i] = "dropped"
    try:  # as LLaMA-Factory maps it: one batch (preprocessing_batch_size=1000 > any generated dataset)
        processor.preprocess_dataset(dataset[:])
    except Exception as err:
        outcome.raised = "batch " + _error(err)
    if kept == 0 and outcome.raised is None:
        outcome.raised = "RuntimeError: Cannot find valid samples"
    return outcome


# -- comparison ---------------------------------------------------------------------------------------
def lfgate_errors(root: pathlib.Path):
    _, report = check_json(".", "--workers", "1", cwd=root)
    return [d for d in report["diagnostics"] if d["severity"] == "error"], report


def classify(lf: LFOutcome, errors) -> str:
    samples = {d["sample"] for d in errors if d["sample"] is not None}
    if lf.clean:
        return "agree: both clean" if not errors else "DISAGREE: lfgate error, LLaMA-Factory fine"
    if not errors:
        return "DISAGREE: LLaMA-Factory fails, lfgate silent"
    if lf.bad and not set(lf.bad) <= samples and lf.raised is None:
        return "PARTIAL: both fail, lfgate misses a failing sample"
    return "agree: both fail"


def compare(project: S.Project):
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "p"
        write_project(root, project.files())
        errors, report = lfgate_errors(root)
        lf = llamafactory_outcome(root, project)
    return classify(lf, errors), lf, errors


# More defects, for the comparison only (no exact place is asserted for these): the corners of
# ../shared/spec/llamafactory-data.md where LLaMA-Factory drops, crashes or silently keeps.
EXTRA = {
    "null_output": {"alpaca_sft", "alpaca_kto"},
    "missing_field_everywhere": {"alpaca_sft"},
    "history_triple": {"alpaca_sft"},
    "system_in_middle": {"openai_tags"},
    "empty_messages": {"sharegpt_sft"},
    "tools_as_list": {"sharegpt_tools"},
    "tools_bad_json": {"sharegpt_tools"},
    "function_call_not_json": {"sharegpt_tools"},
    "chosen_human_role": {"sharegpt_ranking"},
    "kto_in_sft": {"alpaca_kto", "sharegpt_kto"},
    "ranking_string_in_sft": {"alpaca_ranking", "sharegpt_ranking"},
}


@st.composite
def extra_mutations(draw):
    mutation = draw(st.sampled_from(sorted(EXTRA)))
    p = draw(S.projects(kinds=sorted(EXTRA[mutation]))).copy()
    i = draw(st.integers(0, len(p.records) - 1))
    record = p.records[i]
    if mutation == "null_output":
        record["output"] = None
    elif mutation == "missing_field_everywhere":
        p.entry.pop("columns", None)
        for r in p.records:
            r.pop("history", None), r.pop("system", None), r.pop("input", None)
    elif mutation == "history_triple":
        p.entry["columns"] = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}
        for r in p.records:
            r.setdefault("history", [])
        record["history"] = record["history"] + [["a", "b", "c"]]
    elif mutation == "system_in_middle":
        record["messages"].insert(draw(st.integers(1, len(record["messages"]))),
                                  {"role": "system", "content": "be brief"})
    elif mutation == "empty_messages":
        record["conversations"] = []
    elif mutation == "tools_as_list":
        record["tools"] = json.loads(record["tools"])
    elif mutation == "tools_bad_json":
        record["tools"] = record["tools"][:-2]
    elif mutation == "function_call_not_json":
        calls = [m for m in record["conversations"] if m["from"] == "function_call"]
        if calls:
            calls[0]["value"] = "call f with x=1"
        else:
            record["conversations"][1] = {"from": "function_call", "value": "call f with x=1"}
            record["conversations"].insert(2, {"from": "observation", "value": "done"})
            record["conversations"].insert(3, {"from": "human", "value": "thanks"})
    elif mutation == "chosen_human_role":
        record["chosen"]["from"] = "human"
    elif mutation == "kto_in_sft":
        p.config["stage"] = "sft"
    elif mutation == "ranking_string_in_sft":
        p.entry["ranking"] = "true"
        p.config["stage"] = "sft"
        p.config.pop("pref_loss", None)
    return p, mutation


# Any JSON value in one field of one record (top level, or inside a message or answer object): for the agreement
# table only, where each disagreement class is inspected and decided (tests/README.md).
field_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                         st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2),
                         st.dictionaries(st.sampled_from(["from", "value", "role", "content"]), st.text(max_size=3),
                                         max_size=2))


@st.composite
def arbitrary_values(draw):
    p = draw(S.projects(kinds=KINDS)).copy()
    record = draw(st.sampled_from(p.records))
    targets = [(record, key, key) for key in record]
    for key, value in record.items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                targets += [(item, k, f"{key}.{k}") for k in item]
    container, key, where = draw(st.sampled_from(targets))
    container[key] = draw(field_values)
    return p, f"value in {where}"


diff_projects = st.one_of(
    S.projects(kinds=KINDS).map(lambda p: (p, "valid")),
    S.mutated_projects(kinds=KINDS, exclude=EXCLUDED_MUTATIONS).map(lambda m: (m.project, m.mutation)),
    extra_mutations(),
)

# Disagreement classes, each decided and recorded in tests/README.md: (mutation, verdict) -> whose bug it is.
KNOWN: Dict = {}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(diff_projects)
def test_lfgate_errors_agree_with_llamafactory(case):
    project, mutation = case
    verdict, lf, errors = compare(project)
    note(f"{project.kind} / {mutation}: {verdict}\nLLaMA-Factory: {lf}\nlfgate: {errors}")
    if (mutation, verdict) in KNOWN:
        return  # a decided class: see tests/README.md
    assert verdict.startswith("agree"), verdict


def agreement_table(n: int) -> None:
    """Run n generated cases and print the agreement rate and every disagreement class (for tests/README.md)."""
    counts = collections.Counter()
    examples = {}

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(diff_projects, arbitrary_values()))
    def run(case):
        project, mutation = case
        verdict, lf, errors = compare(project)
        key = (verdict, project.kind, mutation)
        counts[key] += 1
        if not verdict.startswith("agree") and key not in examples:
            examples[key] = (lf, [(d["code"], d["sample"], d["message"][:100]) for d in errors], project.records)

    run()
    total = sum(counts.values())
    agreed = sum(c for (v, _, _), c in counts.items() if v.startswith("agree"))
    print(f"cases: {total}, agreement: {agreed}/{total} = {agreed / max(total, 1):.1%}")
    for (verdict, kind, mutation), c in sorted(counts.items()):
        print(f"{c:5d}  {verdict:55s} {kind:18s} {mutation}")
    for key, (lf, errs, records) in examples.items():
        print("\n", key, "\n  records:", str(records)[:600], "\n  LLaMA-Factory:", lf, "\n  lfgate:", errs)


if __name__ == "__main__":
    agreement_table(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
