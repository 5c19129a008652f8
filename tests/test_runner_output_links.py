"""Issue 21: `lfgate train` never writes through a symlink committed inside output_dir (or on the way to it).

transformers and peft follow links when they save; the run is refused before anything loads (RN021, naming the
link), and every file the runner writes itself goes through lfgate/safe_write.py without following links.
"""

import json
import os

import pytest

from helpers import run_cli
from lfgate import safe_write
from lfgate.errors import UsageError
from runner_helpers import tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("peft")


def _victim(tmp_path):
    victim = tmp_path.parent / f"{tmp_path.name}-victim.txt"
    victim.write_text("keep me\n")
    return victim


@pytest.mark.parametrize("layout", ["log-file", "checkpoint-folder", "output-dir-itself", "a-parent-folder"])
@pytest.mark.parametrize("backend", ["builtin", "llamafactory"])
def test_a_committed_link_in_output_dir_stops_the_launch_naming_it(tiny_model, tmp_path, layout, backend):
    victim = _victim(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    config = write_training_project(tmp_path, tiny_model, output="saves/run")
    saves = tmp_path / "saves"
    if layout == "log-file":
        (saves / "run").mkdir(parents=True)
        link = saves / "run" / "running_log.txt"
        link.symlink_to(victim)
    elif layout == "checkpoint-folder":
        (saves / "run").mkdir(parents=True)
        link = saves / "run" / "checkpoint-5"
        link.symlink_to(outside, target_is_directory=True)
    elif layout == "output-dir-itself":
        saves.mkdir()
        link = saves / "run"
        link.symlink_to(outside, target_is_directory=True)
    else:
        link = saves
        link.symlink_to(outside, target_is_directory=True)
    code, out, err = run_cli("train", "--format", "json", str(config), "--backend", backend, cwd=tmp_path)
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == "RN021"]
    assert code == 1 and "not launching" in err
    assert len(found) == 1 and str(link.relative_to(tmp_path)) in found[0]["message"]
    assert victim.read_text() == "keep me\n" and os.listdir(outside) == []


def test_the_runner_itself_checks_again_when_torchrun_starts_it(tiny_model, tmp_path):
    from lfgate.runner import config as config_mod, devices, recipe
    from lfgate.runner.data import DataError

    victim = _victim(tmp_path)
    config_path = write_training_project(tmp_path, tiny_model)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "trainer_log.jsonl").symlink_to(victim)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        config = config_mod.load(str(config_path))
        with pytest.raises(DataError, match="trainer_log.jsonl is a symlink"):
            recipe.train(config, devices.Machine("cpu", 1, ["cpu"]), devices.Precision("fp32"))
    finally:
        os.chdir(cwd)
    assert victim.read_text() == "keep me\n"


def test_append_never_follows_a_link(tmp_path):
    victim = _victim(tmp_path)
    (tmp_path / "log.txt").symlink_to(victim)
    with pytest.raises(UsageError, match="symlink"):
        safe_write.append_text(str(tmp_path / "log.txt"), "injected\n")
    assert victim.read_text() == "keep me\n"
    safe_write.append_text(str(tmp_path / "new.txt"), "a\n")
    safe_write.append_text(str(tmp_path / "new.txt"), "b\n")
    assert (tmp_path / "new.txt").read_text() == "a\nb\n"


def test_the_run_log_and_the_plot_replace_a_link_instead_of_writing_through_it(tmp_path):
    """The whole-file writes (running_log.txt at the start, the loss plots) go through atomic_write: a link that
    appeared in their place is replaced by the file, its target untouched."""
    pytest.importorskip("matplotlib")
    from lfgate.runner.recipe import plot_loss
    from lfgate.runner.runlog import RunLog

    victim = _victim(tmp_path)
    (tmp_path / "running_log.txt").symlink_to(victim)
    (tmp_path / "training_loss.png").symlink_to(victim)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1, "loss": 2.0},
                                                                             {"step": 2, "loss": 1.0}]}))
    log = RunLog(stream=open(os.devnull, "w"))
    log.say("before the folder is known")
    log.open(str(tmp_path))
    log.say("after")
    assert plot_loss(str(tmp_path), ["loss"], log) == [str(tmp_path / "training_loss.png")]
    assert not (tmp_path / "running_log.txt").is_symlink() and not (tmp_path / "training_loss.png").is_symlink()
    text = (tmp_path / "running_log.txt").read_text()
    assert "before the folder is known" in text and "after" in text
    assert victim.read_text() == "keep me\n"


def test_links_above_the_launch_folder_are_the_machines_layout_not_refused(tmp_path):
    """A mount point or a home folder on another disk is not the project's: only links below the launch folder."""
    from lfgate.runner.outputs import links_problem

    real = tmp_path / "disk"
    (real / "launch").mkdir(parents=True)
    (tmp_path / "mnt").symlink_to(real, target_is_directory=True)
    launch = tmp_path / "mnt" / "launch"
    assert links_problem(str(launch / "saves" / "run"), str(launch)) is None
    assert links_problem(str(tmp_path / "mnt" / "elsewhere"), str(launch)) is None
