"""`lfgate schema [train|dataset_info]` prints the shipped JSON Schemas, or says clearly that one is missing."""

import json
import os

import jsonschema
import pytest

from helpers import run_cli
from lfgate.commands import schema


@pytest.mark.parametrize("name", ["train", "dataset_info"])
def test_prints_a_valid_json_schema(name):
    try:
        schema.schema_path(name)
    except Exception:
        pytest.skip(f"{name} schema not generated yet")
    code, out, err = run_cli("schema", name)
    assert code == 0, err
    document = json.loads(out)
    jsonschema.validators.validator_for(document).check_schema(document)
    assert document["type"] == "object"


def test_default_is_the_train_schema_and_path_points_at_the_packaged_file():
    code, out, _ = run_cli("schema", "--path")
    assert code == 0 and out.strip().endswith(os.path.join("lfgate", "schemas", "train.schema.json"))


def test_dataset_info_schema_accepts_llamafactory_style_entry():
    try:
        path = schema.schema_path("dataset_info")
    except Exception:
        pytest.skip("dataset_info schema not generated yet")
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    validator = jsonschema.validators.validator_for(document)(document)
    assert validator.is_valid({"a": {"file_name": "a.json", "formatting": "sharegpt"}})
    assert not validator.is_valid({"a": {"file_name": "a.json", "formatting": "ShareGPT"}})


def test_missing_schema_is_a_one_line_exit_2(monkeypatch, tmp_path):
    monkeypatch.setattr(schema, "FOLDER", str(tmp_path))
    code, out, err = run_cli("schema", "dataset_info")
    assert code == 2 and out == ""
    assert err.startswith("lfgate: error: the dataset_info schema is missing") and err.count("\n") == 1


def test_unknown_schema_name_is_a_usage_error():
    code, _, err = run_cli("schema", "nope")
    assert code == 2 and "invalid choice" in err
