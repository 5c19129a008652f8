"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit (`pre-commit try-repo`) on a temporary repo.

try-repo installs this repository into a fresh environment as pre-commit users get it, so these tests also
prove the hooks install only the light core. They skip when pre-commit is not installed, or when its
environment cannot be installed here (no package index). They run the hooks of a clone of this repository's
HEAD, as users get them: committed files only.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import CORPUS, ROOT, oracle_missing

PRE_COMMIT = shutil.which("pre-commit") or shutil.which("pre-commit", path=os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed")

TRAIN_YAML = CORPUS / "examples" / "train_lora" / "qwen3_lora_sft.yaml"


def test_hook_definitions():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    project, per_file = hooks["lfgate"], hooks["lfgate-files"]
    assert project["pass_filenames"] is False and project["require_serial"] is True
    assert per_file.get("pass_filenames", True) is True
    for hook in hooks.values():
        assert hook["language"] == "python" and not hook.get("additional_dependencies")
        assert hook["entry"] == "lfgate check"
    import re

    pattern = re.compile(project["files"])
    for path in ("data/dataset_info.json", "data/a.jsonl", "data/b.parquet", "train.yaml", "cfg/x.yml"):
        assert pattern.search(path), path
    assert not pattern.search("README.md") and not pattern.search("src/model.py")
    done = subprocess.run([PRE_COMMIT, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    per_file_pattern = re.compile(per_file["files"])
    assert per_file_pattern.search("data/a.jsonl") and per_file_pattern.search("examples/train.yaml")
    assert not per_file_pattern.search("package.json")


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """A clone of HEAD: what `rev:` in a user's .pre-commit-config.yaml gets (and one environment for all tests)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path_factory.mktemp("hooks") / "lfgate"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    return clone


@pytest.fixture
def lf_repo(tmp_path):
    """A git repository holding a small LLaMA-Factory project: two of its demo datasets and its LoRA SFT example."""
    if not CORPUS.is_dir():
        oracle_missing("../shared/corpus/llamafactory is not available")
    repo = tmp_path / "project"
    (repo / "data").mkdir(parents=True)
    (repo / "examples").mkdir()
    for name in ("identity.json", "alpaca_en_demo.json"):
        shutil.copy(CORPUS / "data" / name, repo / "data" / name)
    (repo / "data" / "dataset_info.json").write_text(json.dumps(
        {"identity": {"file_name": "identity.json"}, "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}},
        indent=2))
    shutil.copy(TRAIN_YAML, repo / "examples" / "qwen3_lora_sft.yaml")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "project")
    return repo


def _pre_commit(args, repo, home):
    done = subprocess.run([PRE_COMMIT, *args, "--all-files", "--color", "never"], cwd=repo, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"})
    output = done.stdout + done.stderr
    if "An unexpected error has occurred" in output and "Installing environment" in output:
        pytest.skip(f"pre-commit could not install the hook environment here:\n{output[-2000:]}")
    return done.returncode, output


def test_try_repo_passes_on_a_clean_project(hook_repo, lf_repo, pre_commit_home):
    code, output = _pre_commit(["try-repo", str(hook_repo)], lf_repo, pre_commit_home)
    assert code == 0, output
    assert "lfgate (LLaMA-Factory project)" in output and "lfgate (changed files)" in output
    assert output.count("Passed") == 2, output


def test_configured_hooks_fail_with_lfgates_message_and_install_no_torch(hook_repo, lf_repo, pre_commit_home):
    """The README's .pre-commit-config.yaml snippet, pinned to HEAD, on a project with a broken registry."""
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, check=True, capture_output=True,
                         text=True).stdout.strip()
    (lf_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: lfgate\n      - id: lfgate-files\n")
    (lf_repo / "data" / "dataset_info.json").write_text('{"identity": {"file_name": "identity.json",}}')
    _git(lf_repo, "add", ".")
    _git(lf_repo, "commit", "-q", "-m", "break the registry")
    code, output = _pre_commit(["run"], lf_repo, pre_commit_home)
    assert code == 1, output
    assert output.count("Failed") == 2, output
    assert "DI001" in output and "data/dataset_info.json" in output
    [site] = pre_commit_home.glob("repo*/py_env-*/lib/python*/site-packages")
    packages = {p.name.split("-")[0].lower() for p in site.iterdir()}
    assert "lfgate" in packages and {"jsonschema", "yaml", "rich", "orjson"} <= packages
    # the light core reads every format LLaMA-Factory loads (pandas and pyarrow for CSV and Parquet): never torch
    assert not {"torch", "transformers", "peft", "accelerate", "safetensors"} & packages
