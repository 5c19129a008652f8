"""The README's CI workflow and pre-commit snippet are what the issue promises, and they name real hooks."""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _section(title):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _yaml_blocks(section):
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_the_one_line_ci_step_uses_the_action_at_a_pinned_commit():
    one_line = _yaml_blocks(_section("Use in CI"))[0]
    [job] = one_line["jobs"].values()
    [action] = [s["uses"] for s in job["steps"] if s["uses"].startswith("lfgate/lfgate@")]
    assert re.fullmatch(r"lfgate/lfgate@[0-9a-f]{40}", action)  # pinned as the action installs: its own ref
    assert one_line["permissions"]["security-events"] == "write"
    inputs = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]
    assert {"path", "args", "upload-sarif"} <= set(inputs)


def test_ci_workflow_checks_annotates_uploads_sarif_and_caches_nothing():
    _, workflow, pin = _yaml_blocks(_section("Use in CI"))
    # the third block pins the settings for pull requests: from the base branch, outside the checkout (issue 21)
    assert any("--config" in step.get("run", "") and "base_ref" in "".join(s.get("run", "") for s in pin)
               for step in pin)
    [job] = workflow["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    runs = [step.get("run", "") for step in job["steps"]]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(r.startswith("lfgate check --format github") for r in runs)
    assert any("--format sarif --output-file lfgate.sarif" in r for r in runs)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "lfgate.sarif" and upload.get("if")  # uploaded even when the check fails
    assert not any("cache" in u for u in uses)
    assert not any("cache" in (s.get("with") or {}) for s in job["steps"])
    assert not any("torch" in r or "[train]" in r for r in runs)  # the light core only


def test_pre_commit_snippet_names_hooks_that_exist():
    [config] = _yaml_blocks(_section("Use with pre-commit"))
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    used = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert used and used <= hooks
    assert "lfgate-files" in _section("Use with pre-commit")


def test_editors_section_shows_the_modeline_and_vscode_settings():
    section = _section("Editors")
    assert "# yaml-language-server: $schema=" in section
    assert '"yaml.schemas"' in section and "lfgate schema train" in section and "lfgate schema dataset_info" in section


def _install_and_test_line(text):
    [line] = [x for x in text.splitlines() if x.startswith("python3 -m venv .venv") and "[train,test]" in x]
    return line


def test_readme_and_ci_run_the_same_entry_point():
    """README's test command is what CI runs: .ci/run executes that very line, which ends in scripts/ci_tests.sh."""
    readme = _install_and_test_line((ROOT / "README.md").read_text(encoding="utf-8"))
    ci = _install_and_test_line((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert readme == ci
    assert readme.endswith("&& bash scripts/ci_tests.sh")
    script = (ROOT / "scripts" / "ci_tests.sh").read_text(encoding="utf-8")
    for phase in ("ruff check .", "mypy", "python -m pytest", '"$LFGATE_LF_PYTHON" -m pytest'):
        assert phase in script
    assert 'LFGATE_REQUIRE_ORACLES="${LFGATE_REQUIRE_ORACLES:-1}"' in script


def test_ci_runs_every_in_process_oracle_test_in_llamafactorys_python():
    """The main suite leaves out exactly the files that import llamafactory themselves; the second phase runs them."""
    script = (ROOT / "scripts" / "ci_tests.sh").read_text(encoding="utf-8")
    [listed] = re.findall(r"^IN_PROCESS=\((.*)\)$", script, re.M)
    in_process = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").glob("test_*.py")
                  if re.search(r'^\s*import_oracle\("llamafactory"\)', path.read_text(encoding="utf-8"), re.M)}
    assert set(listed.split()) == in_process
    assert len(in_process) >= 3


def test_ci_runs_the_files_that_start_llamafactorys_python_after_its_venv_is_built():
    """While .lfvenv builds, CI runs the files that never start LLaMA-Factory's Python (LFGATE_LF_PYTHON points
    nowhere then, so a file that does fails); LF_SUBPROCESS lists the others, run once it is built."""
    script = (ROOT / "scripts" / "ci_tests.sh").read_text(encoding="utf-8")
    [listed] = re.findall(r"^LF_SUBPROCESS=\(([^)]*)\)$", script, re.M)
    [in_process] = re.findall(r"^IN_PROCESS=\((.*)\)$", script, re.M)
    naming = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").glob("test_*.py")
              if path.name != "test_readme_ci.py" and "LFGATE_LF_PYTHON" in path.read_text(encoding="utf-8")}
    assert set(listed.split()) == naming - set(in_process.split())
    assert 'LFGATE_LF_PYTHON="$PWD/.lfvenv/not-built-yet/bin/python"' in script
    assert '"${pytest_main[@]}" "${LF_SUBPROCESS[@]}"' in script
