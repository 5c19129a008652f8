"""The wheel as users get it: built from the checkout, installed alone in a fresh venv, run outside the checkout.

No network: the wheel is built without build isolation (setuptools comes with the test extra) and installed with
--no-index --no-deps; its dependencies are taken from this environment's site-packages through a .pth file,
which never runs the editable install's hooks, so the package imported is the wheel's.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _tracked_files():
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    return [p for p in done.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    for relative in _tracked_files():
        target = source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    dist = base / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(dist)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("lfgate-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Install by unpacking: a wheel is a zip laid out for site-packages, plus its console script.
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    (pathlib.Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = env_dir / "bin" / "lfgate"
    script.write_text(f"#!{python}\nimport sys\nfrom lfgate.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return wheel, env_dir, base


def _run(env_dir, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_carries_schemas_templates_docs_and_examples(wheel_env):
    wheel, _, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("lfgate/schemas/train.schema.json", "lfgate/schemas/dataset_info.schema.json",
                   "lfgate/schemas/templates.json", "lfgate/bundled/docs/rules.md",
                   "lfgate/bundled/examples/quickstart/train.yaml",
                   "lfgate/bundled/examples/quickstart/model/model.safetensors"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "examples/")) for n in names)


def test_installed_wheel_runs_outside_the_checkout(wheel_env, tmp_path):
    _, env_dir, base = wheel_env
    project = tmp_path / "project"
    shutil.copytree(base / "source", project, ignore=shutil.ignore_patterns("lfgate", "tests"))
    where = _run(env_dir, str(env_dir / "bin" / "python"), "-c", "import lfgate; print(lfgate.__file__)",
                 cwd=project)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr  # the wheel's package, not the checkout's
    version = _run(env_dir, "lfgate", "--version", cwd=project)
    assert version.returncode == 0 and version.stdout.startswith("lfgate "), version.stderr
    checked = _run(env_dir, "lfgate", "check", "examples/quickstart/train.yaml", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    schema = _run(env_dir, "lfgate", "schema", "--path", cwd=project)
    assert schema.returncode == 0 and str(env_dir) in schema.stdout


def test_example_command_writes_the_bundled_project(wheel_env, tmp_path):
    _, env_dir, _ = wheel_env
    made = _run(env_dir, "lfgate", "example", "qs", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "qs" / "examples" / "quickstart" / "model" / "model.safetensors").is_file()
    checked = _run(env_dir, "lfgate", "check", "examples/quickstart/train.yaml", cwd=tmp_path / "qs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = _run(env_dir, "lfgate", "example", "qs", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
