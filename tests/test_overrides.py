"""One reading of `key=value` overrides for check, train and each torchrun process (lfgate/overrides.py)."""

from conftest import write_project
from lfgate.overrides import apply_overrides, split_overrides
from lfgate.runner import config as runner_config
from lfgate.settings import Settings
from lfgate.validator import training


def test_split_keeps_paths_and_strips_dashes(tmp_path):
    existing = write_project(tmp_path, {"a=b.yaml": "x: 1\n"}) / "a=b.yaml"
    paths, overrides = split_overrides(["t.yaml", "--lr=1e-4", "a.b=1", str(existing), "dir/x=1"])
    assert paths == ["t.yaml", str(existing), "dir/x=1"]
    assert overrides == {"lr": "1e-4", "a.b": "1"}


def test_values_are_yaml_and_dotted_keys_nest():
    values = {"a": 3, "keep": True}
    apply_overrides(values, {"a.b": "1", "lr": "1.0e-4", "flag": "true", "name": "x"})
    assert values == {"a": {"b": 1}, "keep": True, "lr": 1.0e-4, "flag": True, "name": "x"}


def test_check_and_train_read_the_same_overrides(tmp_path):
    path = write_project(tmp_path, {"train.yaml": "stage: sft\nnum_train_epochs: 1\ngeneration: {top_k: 5}\n"})
    path = str(path / "train.yaml")
    overrides = {"num_train_epochs": "2.0", "generation.top_k": "7", "new.key": "x"}
    checked = training.load_config(path, str(tmp_path), Settings(overrides=overrides))
    trained = runner_config.load(path, overrides)
    assert checked.values == trained.values
    assert trained.values["generation"] == {"top_k": 7} and trained.values["new"] == {"key": "x"}
