"""The run's log is an object each train() owns (issue 26): nothing leaks from one run into the next."""

import io

from lfgate.runner.runlog import NAME, RunLog


def test_messages_are_held_until_the_folder_is_known_then_written_once(tmp_path):
    out = io.StringIO()
    log = RunLog(stream=out)
    log.say("tokenizer: eos set")
    assert not (tmp_path / NAME).exists() and out.getvalue() == "tokenizer: eos set\n"
    log.open(str(tmp_path))
    log.say("model: loaded")
    log.write("step 1/2  loss 3.5")
    text = (tmp_path / NAME).read_text()
    assert [line.split("] ", 1)[1] for line in text.splitlines()] == ["tokenizer: eos set", "model: loaded",
                                                                        "step 1/2  loss 3.5"]
    assert "step 1/2" not in out.getvalue()  # write() is for the file only


def test_a_run_that_failed_before_its_folder_leaves_nothing_for_the_next(tmp_path):
    first = RunLog(stream=io.StringIO())
    first.say("from a run that stopped early")  # never opened: its messages die with it
    second = RunLog(stream=io.StringIO())
    second.open(str(tmp_path))
    second.say("the next run")
    assert "stopped early" not in (tmp_path / NAME).read_text()


def test_other_ranks_print_and_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = io.StringIO()
    log = RunLog(stream=out)
    log.say("hello")
    log.open(str(tmp_path))
    log.say("again")
    assert out.getvalue() == "" and not (tmp_path / NAME).exists()
