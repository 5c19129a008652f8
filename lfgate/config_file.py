"""``[tool.lfgate]`` in pyproject.toml, or ``.lfgate.toml``, found upward from the working directory.

In each folder from the working directory up, ``.lfgate.toml`` wins over ``pyproject.toml``, and a
``pyproject.toml`` without a ``[tool.lfgate]`` table is passed over. The former name's ``.lfguard.toml`` and
``[tool.lfguard]`` are read after those, with an LG002 finding (``legacy.py``). Keys are spelt as on the command line
(``fail-on``, ``per-file-ignores``). Relative paths in the file resolve against the file's folder. A bad file
is a UsageError (exit 2) that names the file and the key.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Optional

from lfgate import legacy
from lfgate.diagnostics import Severity
from lfgate.errors import UsageError
from lfgate.lf_facts import did_you_mean
from lfgate.readers import guarded
from lfgate.registry import INFO, rule
from lfgate.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

CONFIG_NAMES = (".lfgate.toml", "pyproject.toml", legacy.OLD_CONFIG_FILE)
TABLES = ("lfgate", legacy.OLD_NAME)  # [tool.X] in pyproject.toml, the new name first
CODE_PATTERN = re.compile(r"^[A-Z]+[0-9]*$")  # a rule code or a prefix of one: DS, DS1, DS101


SETTINGS_SHADOWED = rule(
    "LG003", "settings-file-shadows", INFO, "A settings file shadows another one",
    why="lfgate reads one settings file: the nearest `.lfgate.toml`, else `pyproject.toml` with `[tool.lfgate]`, "
        "from the working directory up. A file added beside or below another replaces it whole, never merges: an "
        "empty `.lfgate.toml` in a pull request drops the repository's `fail-on = \"warning\"`, and the gate "
        "that failed now passes.",
    fix="Keep one settings file (move the keys into it), or pin the settings in CI with `--config FILE` (a file "
        "outside the checkout), which no file in the tree can override.",
    target=".",
    bad={".lfgate.toml": "\n", "pyproject.toml": '[tool.lfgate]\nfail-on = "warning"\n'},
    good={"pyproject.toml": '[tool.lfgate]\nfail-on = "warning"\n'},
)


def find_config(start: Optional[str] = None) -> Optional[tuple]:
    """(path, table, the old name's table or file was used) of the nearest configuration, or None."""
    found = _configs(start)
    return next(found, None)


def _configs(start: Optional[str] = None):
    """Every configuration from start up, nearest first, each as find_config returns it."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        for name in CONFIG_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                found = _table(path, _read(path))
                if found is not None:
                    yield (path, *found)
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent


def shadowed_finding(start: Optional[str] = None):
    """LG003 when the settings file in effect shadows another one (beside it or above it), else None. A file that
    cannot be read up the tree does not stop the run: only the one in effect must be valid."""
    found = _configs(start)
    current = next(found, None)
    if current is None:
        return None
    try:
        other = next(found, None)
    except UsageError:
        return None
    if other is None:
        return None
    here, there = current[0], other[0]
    label = "[tool.lfgate]" if os.path.basename(there) == "pyproject.toml" else "its settings"
    keys = ", ".join(f"`{k}`" for k in other[1]) if isinstance(other[1], dict) and other[1] else "no key"
    shown = os.path.relpath(there, os.path.dirname(here))
    return SETTINGS_SHADOWED.diag(
        f"lfgate reads its settings from {os.path.basename(here)} only; {shown}'s {label} ({keys}) is shadowed "
        "and not applied: a settings file replaces the one above or beside it whole. Merge them, or pin the "
        "settings in CI with `--config FILE`", file=here, line=1)


def _table(path: str, data: dict) -> Optional[tuple]:
    """(table, old spelling) of one file's settings; None for a pyproject.toml without one."""
    if os.path.basename(path) == "pyproject.toml":
        tool = data.get("tool")
        for index, name in enumerate(TABLES):
            table = tool.get(name) if isinstance(tool, dict) else None
            if table is not None:
                if not isinstance(table, dict):
                    raise UsageError(f"{path}: [tool.{name}] must be a table")
                return table, index > 0
        return None
    return data, os.path.basename(path) == legacy.OLD_CONFIG_FILE  # keys at the top level, as in ruff.toml


def _read(path: str) -> dict:
    try:
        with guarded.open_regular(path) as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not valid UTF-8 (byte {err.start}); fix or remove the file, or pass "
                         "--isolated") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a configuration; pass --isolated to ignore it") from None
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


# -- one parser per key: (value, where) -> value for Settings --------------------------------------------------


def _codes(value, where, known_only=True):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of rule codes, e.g. [\"DS101\", \"TR\"]")
    codes = tuple(v.strip().upper() for v in value)
    bad = [c for c in codes if not CODE_PATTERN.match(c)]
    if bad:
        raise UsageError(f"{where}: {bad[0]!r} is not a rule code or prefix (`lfgate rules` lists them)")
    if known_only:
        check_known_codes(codes, where)
    return codes


def check_known_codes(codes, where: str) -> None:
    """A code or prefix that names no rule is a usage error with a did-you-mean: `select = ["DS1O1"]` would
    otherwise select nothing and switch the whole gate off."""
    from lfgate.registry import known_codes  # the rule index: no rule family is imported to know the codes

    known = known_codes()
    for code in codes:
        if any(k.startswith(code) for k in known):
            continue
        prefixes = sorted({k[:n] for k in known for n in range(1, len(k) + 1)})
        hint = did_you_mean(code, prefixes, n=1, otherwise=" `lfgate rules` lists them.")
        raise UsageError(f"{where}: {code!r} names no rule.{hint}")


def _globs(value, where):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where} must be a list of glob patterns, e.g. [\"data/raw/*\"]")
    return tuple(value)


def _severity(value, where):
    if not isinstance(value, str):
        raise UsageError(f"{where} must be \"error\", \"warning\" or \"info\"")
    try:
        return Severity.parse(value)
    except ValueError as err:
        raise UsageError(f"{where}: {err}") from None


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{where} must be a whole number of at least 1, not {value!r}"[:300])
    return value


def _bool(value, where):
    if not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false")
    return value


def _string(value, where):
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where} must be a non-empty string")
    return value


def _per_file_ignores(value, where):
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table of glob = [codes], e.g. \"data/legacy/*\" = [\"DS101\"]")
    # unknown codes here silence nothing and are reported as stale (SUP001), not refused
    return {glob: _codes(codes, f"{where}.{glob!r}", False) for glob, codes in value.items()}


# key in the file -> (Settings attribute, parser, resolve relative paths against the file's folder)
KEYS = {
    "select": ("select", _codes, False),
    "ignore": ("ignore", _codes, False),
    "fail-on": ("fail_on", _severity, False),
    "per-file-ignores": ("per_file_ignores", _per_file_ignores, False),
    "exclude": ("exclude", _globs, False),
    "extend-exclude": ("extend_exclude", _globs, False),
    "dataset-dir": ("dataset_dir", _string, True),
    "baseline": ("baseline", _string, True),
    "devices": ("devices", _positive_int, False),
    "workers": ("workers", _positive_int, False),
    "llamafactory-version": ("llamafactory_version", _string, False),
    "launch-dir": ("launch_dir", _string, True),
    "inline-ignores": ("inline_ignores", _bool, False),
}


def settings_from_table(table: dict, path: str) -> Settings:
    settings = Settings(source=path)
    label = "[tool.lfgate]" if os.path.basename(path) == "pyproject.toml" else ""
    folder = os.path.dirname(os.path.abspath(path))
    for key, value in table.items():
        if key not in KEYS:
            hint = did_you_mean(key.replace("_", "-"), KEYS, n=1, otherwise=f" Known keys: {', '.join(KEYS)}.")
            raise UsageError(f"{path}: unknown key {label}{'.' if label else ''}{key}.{hint}")
        attribute, parse, is_path = KEYS[key]
        parsed = parse(value, f"{path}: {key}")
        if is_path:
            parsed = os.path.normpath(os.path.join(folder, os.path.expanduser(parsed)))
        setattr(settings, attribute, parsed)
    if settings.launch_dir:
        settings.launch_dir_from = f"launch-dir in {path}"
    return settings


def load_file(path: str) -> Settings:
    """Settings from one named file (`--config`): a pyproject.toml needs its [tool.lfgate] table."""
    if not os.path.isfile(path):
        raise UsageError(f"--config {path}: no such file")
    found = _table(path, _read(path))
    if found is None:
        raise UsageError(f"{path} has no [tool.lfgate] table")
    return _settings(path, *found)


def load_settings(start: Optional[str] = None) -> Settings:
    """Defaults, then the nearest configuration file (if any), with LG003 when it shadows another one."""
    found = find_config(start)
    if found is None:
        return Settings()
    settings = _settings(*found)
    shadow = shadowed_finding(start)
    if shadow is not None:
        settings.deprecations.append(shadow)  # reported with the run's findings, as LG002
    return settings


def _settings(path: str, table: dict, old_spelling: bool) -> Settings:
    settings = settings_from_table(table, path)
    if old_spelling:
        settings.deprecations.append(legacy.config_finding(path, os.path.basename(path) == "pyproject.toml"))
    return settings


def project_root(settings: Settings) -> str:
    """Where per-file-ignores globs are matched from: the config file's folder, else the working directory."""
    return os.path.dirname(os.path.abspath(settings.source)) if settings.source else os.getcwd()


def describe(settings: Settings) -> str:
    """The resolved settings in the file's own spelling, for `lfgate check --show-settings`."""
    lines = [f"# config file: {settings.source or 'none (defaults)'}"]
    for key, (attribute, _, _) in KEYS.items():
        value = getattr(settings, attribute)
        lines.append(f"# {key} = (unset)" if value is None else f"{key} = {_toml(value)}")
    if settings.overrides:
        lines.append(f"# overrides: {_toml(settings.overrides)}")
    return "\n".join(lines) + "\n"


def _toml(value) -> str:
    if isinstance(value, Severity):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    return "[" + ", ".join(_toml(v) for v in value) + "]"
