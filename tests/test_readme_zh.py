"""README.zh-CN.md stays in step with README.md: the same set-up commands, and only commands README.md has."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _blocks(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    return re.findall(r"```(bash|yaml)\n(.*?)```", text, re.S)


def _commands(block):
    """The command lines of a bash block, comments and continuation lines joined, without trailing comments."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_two_set_up_commands_are_the_same_in_both():
    english = _commands(_blocks("README.md")[0][1])
    chinese = _commands(_blocks("README.zh-CN.md")[0][1])
    assert len(english) == 2 and chinese == english


def test_every_command_of_the_chinese_readme_is_one_the_english_readme_shows():
    english = {c for kind, block in _blocks("README.md") if kind == "bash" for c in _commands(block)}
    chinese = [c for kind, block in _blocks("README.zh-CN.md") if kind == "bash" for c in _commands(block)]
    assert chinese and [c for c in chinese if c not in english] == []


def test_the_ci_snippets_are_the_english_ones():
    def uses(name):
        return {line.split("#")[0].strip() for kind, block in _blocks(name) if kind == "yaml"
                for line in block.splitlines() if "uses:" in line or "id:" in line or "rev:" in line}
    assert uses("README.zh-CN.md") and uses("README.zh-CN.md") <= uses("README.md")
