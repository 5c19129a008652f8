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


def write_project(root: pathlib.Path, files: dict) -> pathlib.Path:
    """Write {relative path: text or bytes} under root and return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
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
        pytest.skip("../shared/corpus/llamafactory is not available")
    target = tmp_path / "lf"
    shutil.copytree(CORPUS, target)
    return target
