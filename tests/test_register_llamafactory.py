"""What convert and register write, loaded by LLaMA-Factory itself. Skipped unless `llamafactory` is importable.

For every file LLaMA-Factory ships and registers, the entry `lfgate register` infers must make LLaMA-Factory's
own loader and converter (`loader._get_merged_dataset`) produce exactly the samples that its hand-written entry
produces; and a table converted and registered by `lfgate convert` must load and convert as the table says.

    ../lfvenv/bin/python -m pytest -q tests/test_register_llamafactory.py
"""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "ERROR")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from conftest import CORPUS, import_oracle  # noqa: E402

import_oracle("llamafactory")

from helpers import run_cli  # noqa: E402
from lfgate.tools import register  # noqa: E402

pytestmark = pytest.mark.llamafactory
DATA = CORPUS / "data"
STAGE = {"rm": "rm", "kto": "kto", "pt": "pt", "sft": "sft"}


def load_with_llamafactory(dataset_dir, name, stage):
    """LLaMA-Factory's converted samples (the aligned `_prompt`, `_response`, ... columns) as a list of dicts."""
    import datasets
    from llamafactory.data.loader import _get_merged_dataset
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    datasets.disable_progress_bars()
    data_args = DataArguments(dataset=name, dataset_dir=str(dataset_dir), template="qwen", overwrite_cache=True)
    model_args = ModelArguments(model_name_or_path="unused", cache_dir=str(dataset_dir.parent / "hf-cache"))
    training_args = Seq2SeqTrainingArguments(output_dir=str(dataset_dir.parent / "out"), report_to="none")
    return _get_merged_dataset([name], model_args, data_args, training_args, stage).to_list()


def _registered_files():
    if not DATA.is_dir():
        return []
    entries = json.loads((DATA / "dataset_info.json").read_text(encoding="utf-8"))
    return sorted((e["file_name"], name) for name, e in entries.items()
                  if (DATA / e.get("file_name", "-")).is_file())


@pytest.mark.parametrize("file_name,name", _registered_files())
def test_inferred_entry_loads_like_llamafactorys_own(file_name, name, tmp_path):
    theirs_dir, ours_dir = tmp_path / "theirs", tmp_path / "ours"
    for folder in (theirs_dir, ours_dir):
        folder.mkdir()
        shutil.copy(DATA / file_name, folder / file_name)
        if (DATA / "mllm_demo_data").is_dir():
            shutil.copytree(DATA / "mllm_demo_data", folder / "mllm_demo_data")
    entry = json.loads((DATA / "dataset_info.json").read_text(encoding="utf-8"))[name]
    (theirs_dir / "dataset_info.json").write_text(json.dumps({name: entry}), encoding="utf-8")
    plan = register.plan(str(ours_dir / file_name), name, str(ours_dir / "dataset_info.json"), False)
    (ours_dir / "dataset_info.json").write_text(json.dumps({name: plan.entry}), encoding="utf-8")

    ours = load_with_llamafactory(ours_dir, name, plan.stage)
    theirs = load_with_llamafactory(theirs_dir, name, plan.stage)
    strip = lambda rows, d: json.loads(json.dumps(rows).replace(str(d), "<dir>"))  # noqa: E731  media paths
    assert strip(ours, ours_dir) == strip(theirs, theirs_dir)
    assert len(ours) > 0


def test_converted_table_loads_in_llamafactory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "t.csv").write_text("问题,回答,系统\n你好,你好！,助手\n2+2?,4,助手\n", encoding="utf-8")
    code, out, err = run_cli("convert", "t.csv", "data/qa.jsonl", "--instruction", "Answer:", "--input", "问题",
                             "--output", "回答", "--system", "系统", "--register", "qa", cwd=tmp_path)
    assert code == 0, err
    rows = load_with_llamafactory(data, "qa", "sft")
    assert [(r["_prompt"], r["_response"], r["_system"]) for r in rows] == [
        ([{"role": "user", "content": "Answer:\n你好"}], [{"role": "assistant", "content": "你好！"}], "助手"),
        ([{"role": "user", "content": "Answer:\n2+2?"}], [{"role": "assistant", "content": "4"}], "助手"),
    ]
