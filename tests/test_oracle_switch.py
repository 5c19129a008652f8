"""LFGATE_REQUIRE_ORACLES=1 turns a skip for a missing oracle (llamafactory, ../shared) into a failure."""

import pytest

import conftest


@pytest.mark.parametrize("required, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_a_missing_oracle_skips_or_fails(monkeypatch, required, outcome):
    monkeypatch.setattr(conftest, "ORACLES_REQUIRED", required)
    with pytest.raises(outcome):
        conftest.oracle_missing("../shared is not available")
    with pytest.raises(outcome):
        conftest.import_oracle("a_package_that_is_not_there")


def test_the_switch_is_read_from_the_environment(monkeypatch):
    import importlib

    try:
        monkeypatch.setenv("LFGATE_REQUIRE_ORACLES", "1")
        assert importlib.reload(conftest).ORACLES_REQUIRED
        monkeypatch.delenv("LFGATE_REQUIRE_ORACLES")
        assert not importlib.reload(conftest).ORACLES_REQUIRED
    finally:
        monkeypatch.undo()  # the session's own setting back, for the tests after this one
        importlib.reload(conftest)


@pytest.mark.parametrize("required, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_a_missing_realworld_case_skips_unless_the_corpus_is_required(monkeypatch, required, outcome):
    monkeypatch.setattr(conftest, "ORACLES_REQUIRED", True)  # as in CI: every other oracle required
    monkeypatch.setattr(conftest, "CORPUS_REQUIRED", required)
    with pytest.raises(outcome):
        conftest.corpus_case_missing("SomeCase is not in ../shared/realworld yet")


def test_the_corpus_switch_is_read_from_the_environment(monkeypatch):
    import importlib

    try:
        monkeypatch.setenv("LFGATE_REQUIRE_CORPUS", "1")
        assert importlib.reload(conftest).CORPUS_REQUIRED
        monkeypatch.delenv("LFGATE_REQUIRE_CORPUS")
        assert not importlib.reload(conftest).CORPUS_REQUIRED
    finally:
        monkeypatch.undo()
        importlib.reload(conftest)
