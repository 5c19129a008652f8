import os
import pathlib
import shutil

import pytest
from hypothesis import HealthCheck, settings

# CI profile: bounded so the suite stays within minutes; `--hypothesis-profile=thorough` runs far more.
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "llamafactory"
# The oracles the parity claims rest on: LLaMA-Factory itself (in this interpreter or LFGATE_LF_PYTHON) and
# ../shared (its corpus and spec). Missing, their tests skip; with LFGATE_REQUIRE_ORACLES=1 they fail instead, so a
# parity run cannot pass by skipping (tests/README.md: "The parity suite").
ORACLES_REQUIRED = os.environ.get("LFGATE_REQUIRE_ORACLES", "").lower() in ("1", "true", "yes")
# One real-world case folder (../shared/realworld/<case>) missing is not a missing oracle: a case is judged here
# before ../shared gets its folder, so CI (LFGATE_REQUIRE_ORACLES=1) skips it; LFGATE_REQUIRE_CORPUS=1 fails instead.
CORPUS_REQUIRED = os.environ.get("LFGATE_REQUIRE_CORPUS", "").lower() in ("1", "true", "yes")


def oracle_missing(reason: str):
    """Skip for a missing oracle; under LFGATE_REQUIRE_ORACLES=1, fail."""
    if ORACLES_REQUIRED:
        pytest.fail(f"{reason} (LFGATE_REQUIRE_ORACLES=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def corpus_case_missing(reason: str):
    """Skip for a real-world case folder not built yet; under LFGATE_REQUIRE_CORPUS=1, fail."""
    if CORPUS_REQUIRED:
        pytest.fail(f"{reason} (LFGATE_REQUIRE_CORPUS=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)


def import_oracle(name: str = "llamafactory"):
    """pytest.importorskip for an oracle package, failing under LFGATE_REQUIRE_ORACLES=1."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        oracle_missing(f"{name} is not installed in this interpreter")


def skip_without_oracle(available: bool, reason: str):
    """A skipif mark for a missing oracle (no mark under LFGATE_REQUIRE_ORACLES=1: the test runs and fails)."""
    return pytest.mark.skipif(not available and not ORACLES_REQUIRED, reason=reason)


def write_project(root: pathlib.Path, files: dict) -> pathlib.Path:
    """Write {relative path: text, bytes or registry.Symlink} under root and return root."""
    from lfgate.registry import Symlink

    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            path.symlink_to(str(content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path):
    def make(files: dict) -> pathlib.Path:
        return write_project(tmp_path, files)
    return make


@pytest.fixture
def corpus(tmp_path):
    """A writable copy of LLaMA-Factory's own data/ and examples/ (skips when ../shared is absent)."""
    if not CORPUS.is_dir():
        oracle_missing("../shared/corpus/llamafactory is not available")
    target = tmp_path / "lf"
    # ../shared is laid out read-only: copy the contents, not the modes, so the copy is a normal writable project
    shutil.copytree(CORPUS, target, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)
    return target
