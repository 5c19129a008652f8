"""The training launches a project's own text describes: `cd DIR && llamafactory-cli train CFG` and its kin.

Shell scripts, Makefiles, Dockerfiles, README code blocks, notebooks and Python files say how a project is run.
This module reads their text (it never runs anything) and yields each launch of a training config it finds, with
the `cd` steps that lead to it, so the caller can work out the folder `llamafactory-cli` starts in:

- `llamafactory-cli train CFG`, `lmf train CFG`, `lfgate train CFG`, `python -m llamafactory.cli train CFG`, and
  `torchrun|deepspeed|accelerate launch|python ... src/train.py CFG` (or `llamafactory/launcher.py`), after any
  `VAR=value` prefixes (`FORCE_TORCHRUN=1`, `CUDA_VISIBLE_DEVICES=0,1`) and `&&`, `;`, `|`, newlines;
- `cd`, `pushd`/`popd`, `%cd` (notebooks), `WORKDIR` (Dockerfiles), `os.chdir(...)` and `cwd=` (Python), with
  shell variables (`DIR=LLaMA-Factory; cd $DIR`), Make variables and the usual "the script's own folder" idioms
  (`cd "$(dirname "$0")"`, `SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)`).

A path may start with a marker: SCRIPT (the file's own folder), ROOT (the repository root) or HERE (the folder the
file runs in at that point); UNKNOWN stands for a value the text does not give. The caller resolves them.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

SCRIPT, ROOT, HERE, UNKNOWN = "\x00S", "\x00R", "\x00P", "\x00?"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
MAX_VARIANTS = 16  # values one token may take (a `for` loop over a list); more are not followed
MAX_LINE = 16 * 1024  # a launch command is a line or a few; longer (joined) lines are no command and not read
# Cheap test before a file is read line by line: it names a launcher and the word train.
_HINTS = (b"llamafactory", b"lmf ", b"lfgate", b"train.py", b"launcher.py")

Step = Tuple[str, str]  # ("cd" | "pushd", path) or ("popd", "")


@dataclass(frozen=True)
class LaunchCommand:
    """One launch of a training config. steps: the cd steps from the folder the file runs in, in order."""

    line: int
    text: str  # the command as written, shortened
    config: str  # the config argument, variables substituted; `*` where the text gives no value
    steps: Tuple[Step, ...]
    tool: str


def kind_of(name: str) -> Optional[str]:
    """How a file's text is read (shell, make, docker, markdown, notebook, python), or None: not read."""
    base = name.lower()
    if base.endswith((".sh", ".bash", ".zsh", ".slurm", ".sbatch", ".pbs", ".job")):
        return "shell"
    if base in ("makefile", "gnumakefile") or base.endswith(".mk"):
        return "make"
    if base == "dockerfile" or base.startswith("dockerfile.") or base.endswith(".dockerfile"):
        return "docker"
    if base.endswith((".md", ".markdown", ".rst")):
        return "markdown"
    if base.endswith(".ipynb"):
        return "notebook"
    if base.endswith(".py"):
        return "python"
    return None


def may_launch(raw: bytes) -> bool:
    return b"train" in raw and any(h in raw for h in _HINTS)


def find_launches(text: str, kind: str) -> List[LaunchCommand]:
    """Every launch the text describes, in order."""
    if kind == "notebook":
        return list(_notebook(text))
    reader = _Shell()
    if kind == "markdown":
        return list(_markdown(text, reader))
    if kind == "make":
        return list(_make(text, reader))
    if kind == "docker":
        return list(_docker(text, reader))
    if kind == "python":
        return list(_python(text.splitlines(), 1, reader))
    return list(reader.lines(_logical_lines(text.splitlines(), 1)))


# -- the shell reader --------------------------------------------------------------------------------------------
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)=(.*)$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_]\w*|[0-9]+)(?:(:?[-=])([^}]*))?\}|([A-Za-z_]\w*|[0-9]))")
_PREFIX_WORDS = {"env", "nohup", "time", "sudo", "exec", "command", "nice", "stdbuf", "srun", "then", "do", "else",
                 "!", "{", "(", "run", "RUN"}
_SEGMENT = re.compile(r"&&|\|\||[;|&]|(?<!\S)(?:then|do|else)(?!\S)")
_PROMPT = re.compile(r"^\s*(?:\([\w.\-]+\)\s*)?(?:[$>%]|PS>)\s+")


class _Shell:
    """Reads shell lines in order, keeping the cd steps and variables that later lines depend on."""

    def __init__(self) -> None:
        self.steps: List[Step] = []
        self.vars: Dict[str, List[str]] = {}

    def lines(self, numbered: Sequence[Tuple[int, str]], persist: bool = True) -> Iterator[LaunchCommand]:
        for number, line in numbered:
            yield from self.line(number, line, persist)

    def line(self, number: int, line: str, persist: bool = True) -> Iterator[LaunchCommand]:
        if len(line) > MAX_LINE:
            return
        line = _PROMPT.sub("", _without_comment(line)).strip()
        if not line:
            return
        local = persist and not line.startswith("(")  # `(cd x && ...)` leaves the shell where it was
        text = re.sub("[\"'`]", "", _substitutions(line))
        steps = list(self.steps)
        for segment in _SEGMENT.split(text):
            words = [w for w in (_clean(w) for w in segment.split()) if w]
            if not words:
                continue
            self._loop(words)
            launches = self._launch(words, number, line, steps)
            if launches:
                yield from launches
                continue
            step = self._step(words)
            if step is not None:
                steps.append(step)
                if local and _starts_with(words, step[0]):
                    self.steps.append(step)
        return

    def _loop(self, words: List[str]) -> None:
        """`for VAR in a b c` gives VAR each word (globs kept as patterns)."""
        if len(words) >= 3 and words[0] == "for" and words[2] == "in":
            values = [v for w in words[3:] for v in self.expand(w)][:MAX_VARIANTS]
            self.vars[words[1]] = values or [UNKNOWN]

    def _step(self, words: List[str]) -> Optional[Step]:
        assign = _ASSIGN.match(words[0]) if len(words) == 1 or words[0] in ("export", "local", "readonly") else None
        if words[0] in ("export", "local", "readonly", "declare") and len(words) > 1:
            assign = _ASSIGN.match(words[1])
        if assign and (len(words) == 1 or words[0] in ("export", "local", "readonly", "declare")):
            name, value = assign.groups()
            self.vars[name] = self.expand(value)[:MAX_VARIANTS] or [""]
            return None
        for i, word in enumerate(words[:-1]):  # `echo "Run: cd LLaMA-Factory && ..."` counts too
            if word in ("cd", "pushd", "%cd", "WORKDIR", "!cd"):
                return ("pushd" if word == "pushd" else "cd", self.expand(words[i + 1])[0])
        if "popd" in words:
            return ("popd", "")
        return None

    def _launch(self, words: List[str], number: int, line: str, steps: List[Step]) -> List[LaunchCommand]:
        at = _launcher_at(words)
        if at is None:
            return []
        index, tool = at
        shown = line if len(line) <= 160 else line[:157] + "..."
        # LLaMA-Factory reads its config from sys.argv[1] (read_args): the word right after `train` or the script;
        # lfgate's own options come before it
        following = words[index + 1:] if tool == "lfgate" else words[index + 1:index + 2]
        for word in following:
            if word.startswith("-") or "=" in word and not word.startswith("$"):
                continue
            values = [v for v in self.expand(word) if v.lower().endswith(CONFIG_SUFFIXES)]
            if values:
                return [LaunchCommand(number, shown, v.replace(UNKNOWN, "*"), tuple(steps), tool) for v in values]
        return []

    def expand(self, word: str) -> List[str]:
        """A word with its variables substituted: each value it may take (several after a `for` loop)."""
        values = [word]
        for _ in range(8):  # nested `${A}/${B}`: a few rounds
            grown: List[str] = []
            for value in values:
                match = _VAR.search(value)
                if match is None:
                    grown.append(value)
                    continue
                name = match.group(1) or match.group(4)
                known = self.vars.get(name)
                if known is None:
                    known = [match.group(3)] if match.group(3) else ["\x00cwd" if name == "PWD" else UNKNOWN]
                known = [HERE if k == "\x00cwd" else k for k in known]
                grown.extend(value[:match.start()] + k + value[match.end():] for k in known)
            if grown == values:
                break
            values = grown[:MAX_VARIANTS]
        return values


def _clean(word: str) -> str:
    """A word without the brackets and commas around it (`["train",` in Python), keeping `${VAR}` whole."""
    word = word.lstrip("([").rstrip(",;)]")
    while word.endswith("}") and word.count("}") > word.count("{"):
        word = word[:-1]
    while word.startswith("{") and not word.startswith("{}"):
        word = word[1:]
    return word.rstrip(",;)]")


def _starts_with(words: List[str], step: str) -> bool:
    first = next((w for w in words if w not in _PREFIX_WORDS), "")
    return first in ("cd", "pushd", "popd", "%cd", "WORKDIR") if step in ("cd", "pushd", "popd") else False


def _launcher_at(words: List[str]) -> Optional[Tuple[int, str]]:
    """(index of the word after which the config comes, the tool) when the words launch training."""
    for i, word in enumerate(words):
        base = posixpath.basename(word)
        if base in ("llamafactory-cli", "lmf", "lfgate") and i + 1 < len(words) and words[i + 1] == "train":
            return i + 1, base
        if word in ("llamafactory.cli", "lfgate.cli") and i + 1 < len(words) and words[i + 1] == "train":
            return i + 1, word
        if word.endswith(("src/train.py", "llamafactory/launcher.py")):
            return i, base
    return None


def _without_comment(line: str) -> str:
    """The line before an unquoted ` #` comment."""
    if line.lstrip().startswith("#"):
        return ""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and i and line[i - 1] in " \t":
            return line[:i]
    return line


def _substitutions(line: str) -> str:
    """`$(...)` and backquotes replaced by what they stand for: the script's folder, the repository root, the
    current folder, or UNKNOWN. Done before splitting, so the `&&` inside `$(cd ... && pwd)` splits nothing."""
    if "$(" not in line and "`" not in line:
        return line
    out: List[str] = []
    i = 0
    while i < len(line):
        if line.startswith("$(", i) or line[i] == "`":
            end = _closing(line, i)
            inner = line[i + 2:end] if line[i] == "$" else line[i + 1:end]
            out.append(_meaning(inner))
            i = end + 1
            continue
        out.append(line[i])
        i += 1
    return "".join(out)


def _closing(line: str, start: int) -> int:
    if line[start] == "`":
        end = line.find("`", start + 1)
        return end if end >= 0 else len(line)
    depth = 0
    for j in range(start + 1, len(line)):
        if line[j] == "(":
            depth += 1
        elif line[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(line)


def _meaning(inner: str) -> str:
    if "dirname" in inner and ("$0" in inner or "BASH_SOURCE" in inner or "${0}" in inner):
        tail = re.search(r"\)\s*[\"']?(/[^\s\"')&;]*)", inner)  # `$(cd $(dirname $0)/.. && pwd)`
        return SCRIPT + (tail.group(1) if tail else "")
    if "rev-parse" in inner and "show-toplevel" in inner:
        return ROOT
    if inner.strip() in ("pwd", "pwd -P"):
        return HERE
    return UNKNOWN


def _logical_lines(lines: Sequence[str], first: int) -> List[Tuple[int, str]]:
    """Lines with their `\\` continuations joined, numbered from first."""
    out: List[Tuple[int, str]] = []
    pending, start = "", first
    for number, line in enumerate(lines, start=first):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


# -- the other formats -------------------------------------------------------------------------------------------
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_SHELL_FENCES = {"", "bash", "sh", "shell", "console", "zsh", "shell-session", "bat", "cmd", "powershell", "text",
                 "slurm"}
_INLINE = re.compile(r"`([^`\n]+)`")


def _markdown(text: str, reader: _Shell) -> Iterator[LaunchCommand]:
    """Fenced code blocks are read as one shell session in order (a `cd` in the install block counts for the
    training block below it); inline code spans each on their own."""
    lines = text.splitlines()
    block: Optional[List[str]] = None
    fence, language, block_start = "", "", 0
    for number, line in enumerate(lines, start=1):
        opened = _FENCE.match(line)
        if block is None:
            if opened:
                block, fence, language, block_start = [], opened.group(1), opened.group(2).lower(), number + 1
                continue
            for span in _INLINE.findall(line):
                yield from _Shell().line(number, span, persist=False)
            continue
        if opened and opened.group(1).startswith(fence[:3]) and not opened.group(2):
            if language in _SHELL_FENCES:
                yield from reader.lines(_logical_lines(block, block_start))
            elif language in ("python", "py", "ipython"):
                yield from _python(block, block_start, reader)
            block = None
            continue
        block.append(line)


def _make(text: str, reader: _Shell) -> Iterator[LaunchCommand]:
    """Recipe lines, each in a shell of its own started in the Makefile's folder; `NAME = value` variables."""
    for number, line in _logical_lines(text.splitlines(), 1):
        assign = re.match(r"^([A-Za-z_][\w.]*)\s*[:?+]?=\s*(.*)$", line)
        if assign and not line.startswith("\t"):
            reader.vars[assign.group(1)] = [assign.group(2).strip()]
            continue
        if line.startswith("\t"):
            recipe = re.sub(r"\$\(([A-Za-z_][\w.]*)\)", r"${\1}", line.strip().lstrip("@-+"))
            reader.steps = []
            yield from reader.line(number, recipe.replace("$$", "$"), persist=False)


def _docker(text: str, reader: _Shell) -> Iterator[LaunchCommand]:
    for number, line in _logical_lines(text.splitlines(), 1):
        words = line.split(None, 1)
        if len(words) < 2:
            continue
        head, rest = words[0].upper(), words[1]
        if head == "WORKDIR":
            reader.steps.append(("cd", reader.expand(rest.strip())[0]))
        elif head in ("ENV", "ARG"):
            for name, value in re.findall(r"([A-Za-z_]\w*)[= ]([^\s]+)", rest):
                reader.vars[name] = [value.strip("\"'")]
        elif head in ("RUN", "CMD", "ENTRYPOINT"):
            if rest.lstrip().startswith("["):
                try:
                    rest = " ".join(str(w) for w in json.loads(rest))
                except ValueError:
                    pass
            yield from reader.line(number, rest, persist=head == "RUN")


_CHDIR = re.compile(r"""os\.chdir\(\s*(?:r?["']([^"']+)["']|([A-Za-z_]\w*))\s*\)""")
_CWD_ARG = re.compile(r"""\bcwd\s*=\s*(?:r?["']([^"']+)["']|([A-Za-z_]\w*))""")
_PY_ASSIGN = re.compile(r"""^\s*([A-Za-z_]\w*)\s*=\s*r?["']([^"']*)["']\s*$""")


def _python(lines: Sequence[str], first: int, reader: _Shell) -> Iterator[LaunchCommand]:
    """Lines of Python that name a launch in a string or argument list, `os.chdir(...)` and `cwd=...`."""
    names: Dict[str, str] = {}
    for number, line in enumerate(lines, start=first):
        assign = _PY_ASSIGN.match(line)
        if assign:
            names[assign.group(1)] = assign.group(2)
        chdir = _CHDIR.search(line)
        if chdir:
            target = chdir.group(1) or names.get(chdir.group(2) or "", UNKNOWN)
            reader.steps.append(("cd", target))
            continue
        if "train" not in line or not any(h.decode() in line for h in _HINTS):
            continue
        cwd = _CWD_ARG.search(line)
        extra = ""
        if cwd:
            extra = f"cd {cwd.group(1) or names.get(cwd.group(2) or '', UNKNOWN)} && "
        flat = re.sub(r"\{([A-Za-z_]\w*)\}", r"${\1}", re.sub(r"\bf?[\"']|[\"']", " ", line)).replace(",", " ")
        flat = re.sub(r"(?<![\w${./-])([A-Za-z_]\w*)(?![\w(./-])", lambda m: "${" + m.group(1) + "}"
                      if m.group(1) in names else m.group(1), flat)
        reader.vars.update({k: [v] for k, v in names.items()})
        yield from reader.line(number, extra + flat, persist=False)


def _notebook(text: str) -> Iterator[LaunchCommand]:
    """Code cells: `!cmd` and `%%bash` cells as shell, `%cd DIR` persists; markdown cells as markdown."""
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return
    reader = _Shell()
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = source.splitlines()
        number = index + 1  # a notebook has no lines: findings name the cell
        if cell.get("cell_type") == "markdown":
            for found in _markdown(source, reader):
                yield LaunchCommand(number, found.text, found.config, found.steps, found.tool)
            continue
        if lines and lines[0].startswith(("%%bash", "%%sh", "%%shell", "%%script bash")):
            for found in reader.lines(_logical_lines(lines[1:], 1)):
                yield LaunchCommand(number, found.text, found.config, found.steps, found.tool)
            continue
        for line in lines:
            stripped = line.strip()
            if stripped.startswith(("!", "%cd ", "%env ")):
                shell = stripped[1:]
                if stripped.startswith("%env "):
                    shell = shell[4:].strip().replace(" ", "=", 1) if "=" not in shell else shell[4:].strip()
                for found in reader.line(number, shell, persist=stripped.startswith("%cd")):
                    yield LaunchCommand(number, found.text, found.config, found.steps, found.tool)
            else:
                for found in _python([line], number, reader):
                    yield LaunchCommand(number, found.text, found.config, found.steps, found.tool)


def join(base: str, path: str) -> str:
    """base/path with POSIX rules, for paths written in scripts."""
    return posixpath.normpath(posixpath.join(base, path)) if path else base


def native(path: str) -> str:
    return path.replace("/", os.sep) if os.sep != "/" else path
