"""The folder `llamafactory-cli` is launched from, per config: what its relative paths resolve against.

LLaMA-Factory resolves `dataset_dir`, `media_dir`, `tokenized_path`, `deepspeed`, `output_dir`,
`adapter_name_or_path`, `resume_from_checkpoint` and a relative `model_name_or_path` against its working directory.
Projects often keep a LLaMA-Factory checkout in a subfolder and launch from inside it (`cd LLaMA-Factory &&
llamafactory-cli train ../configs/x.yaml`), so the folder checked is often not the folder launched from. For each
config, in this order:

1. `--launch-dir DIR` (or `launch-dir` in `[tool.lfgate]`); `lfgate train` launches in the current folder;
2. the project's own launch commands that name the config (readers/launch_commands.py: scripts, Makefiles,
   Dockerfiles, README code blocks, notebooks), with their `cd` steps; a `cd` is tried from the file's own folder,
   then from each folder above it up to the project root, and counts only where its config argument then names
   this very file;
3. the LLaMA-Factory checkout that contains the config, or whose folder the config's relative paths resolve from
   (project.is_checkout);
4. the folder checked.

Paths then resolve from the chosen folder first, then the other folders the project launches the config from,
the folder checked and the current directory (TrainingConfig.candidates), so a path found from the launch folder
is never an error and one found from none names every folder tried. One info (TY010) says which folder was
assumed for which configs and why; the findings that depend on it name it. A vendored checkout's version
(src/llamafactory/extras/env.py) is the target release for the configs launched from it, unless
`--llamafactory-version` says otherwise.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from lfgate.diagnostics import display_path
from lfgate.readers import guarded, launch_commands as commands
from lfgate.registry import ERROR, INFO, rule
from lfgate.validator import project

_CFG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
        "template: qwen\ndataset: demo\noutput_dir: saves/q\n")
_REG = '{"demo": {"file_name": "demo.json"}}\n'
_DATA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'

LAUNCH_FOLDER = rule(
    "TY010", "launch-folder", INFO, "The folder llamafactory-cli is launched from, when it is not the folder checked",
    why="LLaMA-Factory resolves dataset_dir, deepspeed, output_dir and the other relative paths of a config against "
        "the directory llamafactory-cli runs in. A project that keeps a LLaMA-Factory checkout in a subfolder "
        "launches from inside it (`cd LLaMA-Factory && llamafactory-cli train ../configs/x.yaml`); lfgate infers "
        "that folder from --launch-dir, the project's own launch commands (scripts, Makefiles, README code "
        "blocks, notebooks) or the checkout holding the config, and says once which folder it assumed for which "
        "configs, and why. Findings about paths name the folder they assumed.",
    fix="Nothing to fix. If the folder is wrong, pass `--launch-dir DIR` (or set `launch-dir` in [tool.lfgate]).",
    bad={"LLaMA-Factory/data/dataset_info.json": _REG, "LLaMA-Factory/data/demo.json": _DATA,
         "LLaMA-Factory/examples/.keep": "", "configs/sft.yaml": _CFG,
         "train.sh": "cd LLaMA-Factory && llamafactory-cli train ../configs/sft.yaml\n"},
    good={"data/dataset_info.json": _REG, "data/demo.json": _DATA, "train.yaml": _CFG},
)
NOT_LAUNCHED = rule(
    "TY017", "launch-unchecked-config", ERROR, "`lfgate train` was given a file the check did not check as a "
                                               "training config",
    why="A gate that launches what it could not check passes a broken project. `lfgate train` (either backend) "
        "launches only a config that the check read as a training config: a file passed over as no config, a "
        "LLaMA Board save (the web UI launches it), a block inside a wrapper YAML (the wrapper writes the file "
        "that is launched) or a config without training keys (chat, export) stops before launch, saying why.",
    fix="Give `lfgate train` the training YAML itself: the file llamafactory-cli is to read.",
    bad={"train.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_processes: 2\n"},
    good={"train.yaml": _CFG, "data/dataset_info.json": _REG, "data/demo.json": _DATA},
    target="train.yaml", command="train", args=("--backend", "llamafactory", "--dry-run"),
)

# The findings whose truth depends on the launch folder: they name the folder they assumed.
LAUNCH_DEPENDENT = frozenset({"LK001", "LK002", "LK003", "LK033", "LK034", "LK035", "TY212", "TY360", "TY361",
                              "TY420", "TY421", "TY422"})
# Keys whose relative values LLaMA-Factory reads from its working directory (output_dir is written, not read).
READ_PATH_KEYS = ("dataset_dir", "media_dir", "tokenized_path", "deepspeed", "adapter_name_or_path",
                  "resume_from_checkpoint", "model_name_or_path")
# Where a checkout keeps its version, newest layout first (llmtuner: before 0.8).
VERSION_FILES = ("src/llamafactory/extras/env.py", "src/llamafactory/__init__.py", "src/llmtuner/extras/env.py",
                 "src/llmtuner/__init__.py")
_VERSION = re.compile(r"""^(?:VERSION|__version__)\s*=\s*["']([0-9][^"']*)["']""", re.M)
# Which files say best how a config is launched: scripts before notebooks, Python and READMEs.
_PRIORITY = {"shell": 0, "make": 0, "docker": 0, "notebook": 1, "python": 2, "markdown": 3}
LAUNCH_WALK_BUDGET = 50_000  # entries walked to find the launch files of a project for configs named alone


@dataclass(frozen=True)
class Launch:
    """The launch folder chosen for one config. kind: option, train, command, checkout, paths or default."""

    folder: str
    kind: str
    why: str
    default: str  # the folder checked
    also: Tuple[str, ...] = ()  # further folders a relative path may resolve from
    version: Optional[Tuple[str, str]] = None  # (VERSION, the file it is read from) of a checkout launched from

    @property
    def moved(self) -> bool:
        """The config is launched from another folder than the folder checked. A checkout that is the current
        folder is no news: paths were always tried from there too."""
        return self.folder != self.default and not (self.kind == "checkout" and self.folder == os.getcwd())


@dataclass(frozen=True)
class _Evidence:
    folder: str
    why: str
    rank: Tuple[int, int]


@dataclass
class LaunchPlan:
    """The launch folder of every config of one run, and the one info that tells it."""

    settings: object
    default_for: Callable[[str], str]
    known: Dict[str, str] = field(default_factory=dict)  # absolute config path -> as given
    evidence: Dict[str, List[_Evidence]] = field(default_factory=dict)
    checkouts: List[str] = field(default_factory=list)
    chosen: Dict[str, Launch] = field(default_factory=dict)
    _read_roots: set = field(default_factory=set)
    _is_checkout: Dict[str, bool] = field(default_factory=dict)
    _registries: Dict[str, frozenset] = field(default_factory=dict)  # registry path -> the names it defines

    def is_checkout(self, folder: str) -> bool:
        if folder not in self._is_checkout:
            self._is_checkout[folder] = project.is_checkout(folder)
        return self._is_checkout[folder]

    # -- what the project says -----------------------------------------------------------------------------
    def read_project(self, root: str, launch_files: Sequence[str], checkouts: Sequence[str]) -> None:
        root = os.path.abspath(root)
        if root in self._read_roots:
            return
        self._read_roots.add(root)
        self.checkouts.extend(os.path.abspath(c) for c in checkouts if os.path.abspath(c) not in self.checkouts)
        self._is_checkout.update((os.path.abspath(c), True) for c in checkouts)
        # LLaMA-Factory's own package and tests launch no config of the project: their Python is not read
        own = tuple(os.path.join(os.path.abspath(c), sub) + os.sep for c in checkouts for sub in ("src", "tests"))
        for path in launch_files:
            if not (path.endswith(".py") and os.path.abspath(path).startswith(own)):
                self._read_file(path, root)

    def _read_file(self, path: str, root: str) -> None:
        kind = commands.kind_of(os.path.basename(path))
        if kind is None:
            return
        try:
            with guarded.open_regular(path) as f:
                raw = f.read(project.MAX_LAUNCH_FILE_BYTES + 1)
        except OSError:
            return
        if len(raw) > project.MAX_LAUNCH_FILE_BYTES or not commands.may_launch(raw):
            return
        for command in commands.find_launches(raw.decode("utf-8", "replace"), kind):
            self._place(command, os.path.abspath(path), root, kind)

    def _place(self, command: commands.LaunchCommand, path: str, root: str, kind: str) -> None:
        """Record where the command launches its config from: the start folder (the file's own, or one above it)
        from which every cd step lands in a folder that is there and the config argument names a checked config;
        failing that, the one that passes over the fewest cd steps."""
        here = os.path.dirname(path)
        best = None
        for index, start in enumerate(_starts(here, root)):
            walked = _cwd(start, here, root, command.steps)
            if walked is None:
                return
            folder, passed_over = walked
            found = self._configs_named(command.config, folder, root)
            if found and (best is None or passed_over < best[0]):
                best = (passed_over, index, folder, found)
            if found and not passed_over:
                break
        if best is None:
            return
        _, index, folder, found = best
        where = f"{display_path(path)}:{command.line}" if kind != "notebook" else \
            f"{display_path(path)} cell {command.line}"
        for config in found:
            self.evidence.setdefault(config, []).append(
                _Evidence(folder, f"{where}: `{command.text}`", (_PRIORITY.get(kind, 3), index)))

    def _configs_named(self, argument: str, folder: str, root: str) -> List[str]:
        if any(ch in argument for ch in "*?["):
            return self._matching(argument, folder)
        if argument.startswith("/"):
            mapped = _mapped(argument, root, lambda p: p in self.known)
            return [mapped] if mapped else []
        path = os.path.normpath(os.path.join(folder, commands.native(argument)))
        return [path] if path in self.known else []

    def _matching(self, pattern: str, folder: str) -> List[str]:
        """Configs a pattern names (`configs/*.yaml`, or `${NAME}` the text does not give): a `*` stays within one
        folder, and a pattern that is a bare `*.yaml` is too vague to name anything."""
        if pattern.startswith("/"):
            return []
        literal = os.path.splitext(posix_base(pattern))[0].replace("*", "")
        if "/" not in pattern.split("*")[0] and len(literal) < 2:
            return []
        regex = re.compile(fnmatch.translate(os.path.normpath(os.path.join(folder, commands.native(pattern))))
                           .replace(".*", "[^" + re.escape(os.sep) + "]*"))
        return [p for p in self.known if regex.match(p)][:200]

    # -- the choice ---------------------------------------------------------------------------------------
    def launch_for(self, path: str, values: Optional[dict]) -> Launch:
        key = os.path.abspath(path)
        if key not in self.chosen:
            self.chosen[key] = self._choose(key, path, values or {})
        return self.chosen[key]

    def _choose(self, key: str, path: str, values: dict) -> Launch:
        default = os.path.abspath(self.default_for(path))
        option = getattr(self.settings, "launch_dir", None)
        others: List[str] = []
        if option:
            folder, kind = os.path.abspath(option), "train" if getattr(self.settings, "launch_dir_from", "") \
                .startswith("lfgate train") else "option"
            why = getattr(self.settings, "launch_dir_from", None) or "--launch-dir"
        elif key in self.evidence:
            ranked = sorted(self.evidence[key], key=lambda e: e.rank)
            folder, kind, why = ranked[0].folder, "command", ranked[0].why
            others = [e.folder for e in ranked[1:] if e.folder != folder]
            if others:
                why += f" (also launched from {', '.join(_shown(f) for f in dict.fromkeys(others))})"
        else:
            checkout = self._containing_checkout(key)
            led = None if checkout else self._led_into(values, default)
            if checkout:
                folder, kind, why = checkout, "checkout", f"inside the LLaMA-Factory checkout {_shown(checkout)}"
            elif led:
                folder, kind = led
                why = f"its relative paths and datasets resolve from the LLaMA-Factory checkout {_shown(folder)}"
            else:
                folder, kind, why = default, "default", "the folder checked"
        also = tuple(dict.fromkeys(f for f in (*others, default) if f != folder))
        version = checkout_version(folder) if self.is_checkout(folder) else None
        return Launch(folder, kind, why, default, also, version)

    def _containing_checkout(self, path: str) -> Optional[str]:
        folder = os.path.dirname(path)
        while True:
            if self.is_checkout(folder):
                return folder
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent

    def _led_into(self, values: dict, default: str) -> Optional[Tuple[str, str]]:
        """The one checkout that the config's relative read paths resolve from, and whose registry defines the
        datasets it names, better than the folder checked."""
        paths = [v for k in READ_PATH_KEYS for v in [values.get(k)] if isinstance(v, str) and v and "$" not in v
                 and not os.path.isabs(v) and not v.startswith(("REMOTE:", "ONLINE", "~"))]
        dataset_dir = values.get("dataset_dir") or "data"
        names = [str(n).strip() for key in ("dataset", "eval_dataset") for value in [values.get(key)]
                 for n in (value if isinstance(value, list) else str(value or "").split(",")) if str(n).strip()]
        if not self.checkouts or not (paths or names) or not isinstance(dataset_dir, str) or "$" in dataset_dir:
            return None

        def score(folder: str) -> int:
            found = sum(1 for p in paths if os.path.exists(os.path.join(folder, p)))
            defined = self._registry_names(os.path.join(folder, dataset_dir, project.REGISTRY_NAME))
            return found + (1 if names and defined and all(str(n) in defined for n in names) else 0)

        scores = sorted(((score(c), c) for c in self.checkouts if c != default), reverse=True)
        if not scores or scores[0][0] <= score(default) or len(scores) > 1 and scores[1][0] == scores[0][0]:
            return None
        return scores[0][1], "paths"

    def _registry_names(self, path: str) -> frozenset:
        if path not in self._registries:
            names: frozenset = frozenset()
            try:
                if os.path.getsize(path) <= 64 * 1024 * 1024:
                    with guarded.open_regular(path) as f:
                        value = json.loads(f.read())
                    names = frozenset(value) if isinstance(value, dict) else frozenset()
            except (OSError, ValueError, RecursionError):
                pass
            self._registries[path] = names
        return self._registries[path]

    # -- what is said -------------------------------------------------------------------------------------
    def settings_for(self, launch: Launch, settings):
        """The settings a config is checked under: a vendored checkout's release, with the arguments and templates
        its source declares, unless the user chose a release."""
        if launch.version is None or getattr(settings, "llamafactory_version", None):
            return settings
        version, where = launch.version
        facts = checkout_facts(launch.folder)
        return replace(settings, llamafactory_version=version,
                       llamafactory_version_from=f"the LLaMA-Factory checkout {_shown(launch.folder)} ({where})",
                       checkout_keys=facts.keys, checkout_templates=facts.templates)

    def findings(self, config_paths: Iterable[str]) -> list:
        """One info naming the folder assumed for the configs not launched from the folder checked."""
        checked = {os.path.abspath(p) for p in config_paths}
        moved = [(p, launch) for p, launch in self.chosen.items() if launch.moved and p in checked]
        if not moved:
            return []
        groups: Dict[Tuple[str, str], List[str]] = {}
        for path, launch in moved:
            groups.setdefault((launch.folder, _summary(launch)), []).append(self.known.get(path, path))
        parts = []
        for (folder, why), paths in groups.items():
            names = ", ".join(display_path(p) for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4
                                                                       else "")
            parts.append(f"{_shown(folder)} for {names} ({why})")
        first = moved[0][1]
        return [LAUNCH_FOLDER.diag(
            f"relative paths of {len(moved)} config(s) are resolved from the folder llamafactory-cli is launched "
            f"from, not the folder checked ({_shown(first.default)}): {'; '.join(parts)}. Pass --launch-dir DIR if "
            "that is not where they run", file=self.known.get(moved[0][0], moved[0][0]))]

    def annotate(self, found: Iterable, config_path: str, launch: Launch) -> list:
        """Findings that depend on the launch folder name it, when it is not the folder checked."""
        found = list(found)
        if not launch.moved:
            return found
        note = f" (launch folder {_shown(launch.folder)}, TY010)"
        return [d.at(message=d.message + note) if d.code in LAUNCH_DEPENDENT and d.file == config_path
                and note not in d.message else d for d in found]


def _summary(launch: Launch) -> str:
    version = f"; LLaMA-Factory {launch.version[0]} from its {launch.version[1]}" if launch.version else ""
    return launch.why + version


def _shown(folder: str) -> str:
    shown = display_path(folder)
    return "./" if shown in (".", "") else shown.rstrip(os.sep) + "/"


def posix_base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _starts(here: str, root: str) -> List[str]:
    """The folder a file runs in may be its own or any folder above it up to the project root."""
    starts = [here]
    if not (here + os.sep).startswith(root.rstrip(os.sep) + os.sep):
        return starts
    folder = here
    while folder != root:
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
        starts.append(folder)
    return starts


def _cwd(start: str, script_dir: str, root: str, steps: Sequence[commands.Step]) -> Optional[Tuple[str, int]]:
    """(where the cd steps lead from start, how many were passed over); None when a step goes somewhere the text
    does not give. A step into a folder that is not there (one the instructions clone, or left out of this copy)
    is passed over."""
    current, passed_over = start, 0
    stack: List[str] = []
    for op, argument in steps:
        if op == "popd":
            current = stack.pop() if stack else current
            continue
        target = _folder(argument, current, script_dir, root)
        if target is None:
            return None
        if not os.path.isdir(target):
            passed_over += 1
            continue
        if op == "pushd":
            stack.append(current)
        current = target
    return current, passed_over


def _folder(argument: str, current: str, script_dir: str, root: str) -> Optional[str]:
    if not argument or commands.UNKNOWN in argument or argument.startswith("~") or argument == "-":
        return None
    for marker, base in ((commands.SCRIPT, script_dir), (commands.ROOT, root), (commands.HERE, current)):
        if argument.startswith(marker):
            return os.path.normpath(os.path.join(base, commands.native(argument[len(marker):].lstrip("/"))))
    if argument.startswith("/"):
        return _mapped(argument, root, os.path.isdir)
    return os.path.normpath(os.path.join(current, commands.native(argument)))


def _mapped(path: str, root: str, present: Callable[[str], bool]) -> Optional[str]:
    """An absolute path of another machine (`/content/LLaMA-Factory`) as the part of it this project holds."""
    if present(path):
        return path
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts)):
        candidate = os.path.join(root, *parts[i:])
        if present(candidate):
            return candidate
    if parts and parts[-1] == os.path.basename(root) and present(root):
        return root
    return None


@dataclass(frozen=True)
class CheckoutFacts:
    """What a vendored checkout's own source says about the release it is (read as text, never imported): its
    version, the argument names its hparams dataclasses declare, the templates its template.py registers. A fork
    adds arguments and templates; they are LLaMA-Factory's for the configs launched from it."""

    version: Optional[Tuple[str, str]] = None
    keys: frozenset = frozenset()
    templates: frozenset = frozenset()


_HPARAMS = ("src/llamafactory/hparams", "src/llmtuner/hparams")
_TEMPLATE_FILES = ("src/llamafactory/data/template.py", "src/llmtuner/data/template.py",
                   "src/llmtuner/extras/template.py")
_FIELD = re.compile(r"^    ([a-z_][a-z0-9_]*)\s*:[^=\n]+=\s*field\(", re.M)
_TEMPLATE_NAME = re.compile(r"""register_template\(\s*name\s*=\s*["']([^"']+)["']""")


def checkout_facts(folder: str) -> CheckoutFacts:
    if folder not in _FACTS:
        _FACTS[folder] = CheckoutFacts(checkout_version(folder), frozenset(_declared_keys(folder)),
                                       frozenset(_TEMPLATE_NAME.findall("".join(_texts(folder, _TEMPLATE_FILES)))))
    return _FACTS[folder]


_FACTS: Dict[str, CheckoutFacts] = {}


def _declared_keys(folder: str) -> List[str]:
    """Argument names of the checkout's hparams dataclasses that a config may set (`init=False` ones it may not)."""
    files = []
    for sub in _HPARAMS:
        try:
            files += [os.path.join(sub, n) for n in sorted(os.listdir(os.path.join(folder, sub))) if n.endswith(".py")]
        except OSError:
            continue
    keys = []
    for text in _texts(folder, files):
        for match in _FIELD.finditer(text):
            close = _call_end(text, match.end())
            if not re.search(r"\binit\s*=\s*False", text[match.end():close]):
                keys.append(match.group(1))
    return keys


def _call_end(text: str, start: int) -> int:
    depth = 1
    for i in range(start, min(len(text), start + 20_000)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return start


def _texts(folder: str, names: Sequence[str]) -> List[str]:
    out = []
    for name in names:
        try:
            with guarded.open_regular(os.path.join(folder, name)) as f:
                out.append(f.read(2 * 1024 * 1024).decode("utf-8", "replace"))
        except OSError:
            continue
    return out


def checkout_version(folder: str) -> Optional[Tuple[str, str]]:
    """(VERSION, the file it is written in) of a LLaMA-Factory checkout, read as text (never imported)."""
    for name in VERSION_FILES:
        try:
            with guarded.open_regular(os.path.join(folder, name)) as f:
                text = f.read(64 * 1024).decode("utf-8", "replace")
        except OSError:
            continue
        match = _VERSION.search(text)
        if match:
            return match.group(1), name
    return None


def scan_root(path: str) -> str:
    """The project a config named on its own belongs to: the current folder when it lies under it (pre-commit and
    CI run at the repository root), else its own folder."""
    here = os.getcwd()
    absolute = os.path.abspath(path)
    return here if absolute.startswith(here.rstrip(os.sep) + os.sep) else os.path.dirname(absolute)


def make_plan(targets, config_paths: Sequence[str], settings, default_for: Callable[[str], str]) -> LaunchPlan:
    """The plan for one run: the launch files of each folder checked, and of the project of each config named
    outside them (found with a bounded walk)."""
    plan = LaunchPlan(settings, default_for)
    plan.known = {os.path.abspath(p): p for p in config_paths}
    if getattr(settings, "launch_dir", None):
        return plan
    for folder in targets.folders:
        inside = [f for f in targets.launch_files if _under(f, folder)]
        plan.read_project(folder, inside, [c for c in targets.checkouts if _under(c, folder) or c == folder])
    for path in config_paths:
        if any(_under(path, folder) for folder in targets.folders):
            continue
        root = scan_root(path)
        if os.path.abspath(root) in plan._read_roots:
            continue
        found = project.launch_files_under(root, getattr(settings, "all_excludes", ()), LAUNCH_WALK_BUDGET)
        plan.read_project(root, found.launch_files, found.checkouts)
    return plan


def _under(path: str, folder: str) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(folder).rstrip(os.sep) + os.sep)


def refusal(configs: Sequence, not_configs: Dict[str, str], path: str) -> list:
    """TY017 when the file `lfgate train` is to launch was not checked as a training config, saying why."""
    target = os.path.abspath(path)
    mine = [c for c in configs if os.path.abspath(c.path) == target]
    why = None
    if not mine:
        why = not_configs.get(path) or "the check did not read it as a training config"
    elif mine[0].origin == "board":
        why = ("it is a LLaMA Board (web UI) save, whose `top.*`/`train.*` fields llamafactory-cli train does not "
               "read: launch it from the web UI")
    elif mine[0].origin == "block":
        why = (f"its config is the block under `{'.'.join(mine[0].block)}:` of a wrapper YAML, and llamafactory-cli "
               "train reads a file's top level: launch the file the wrapper writes")
    elif mine[0].entry != "train":
        why = (f"it is a `llamafactory-cli {mine[0].entry}` config (no stage, do_train, dataset or output_dir): "
               "there is nothing to train")
    if why is None:
        return []
    return [NOT_LAUNCHED.diag(f"not launching {path}: {why}", file=path)]
