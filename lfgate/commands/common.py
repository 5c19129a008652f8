"""Arguments and output shared by `check` and `train`."""

from __future__ import annotations

import argparse
import os
import sys

from lfgate.diagnostics import Severity
from lfgate.errors import UsageError
from lfgate.overrides import split_overrides  # noqa: F401  (the commands call common.split_overrides)
from lfgate.readers import guarded


def add_check_arguments(parser) -> None:
    from lfgate.reporters import FORMATS

    parser.add_argument("--format", default="text", choices=list(FORMATS), help="output format (default: text)")
    parser.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--absolute-paths", action="store_true",
                        help="text format: keep this machine's absolute paths in messages (default: relative to "
                             "the working directory, home as ~; always so in the other formats)")
    parser.add_argument("--select", metavar="CODES", help="comma-separated rule codes or prefixes to report")
    parser.add_argument("--ignore", metavar="CODES", help="comma-separated rule codes or prefixes to skip")
    parser.add_argument("--fail-on", choices=["error", "warning", "info"], help="failure level (default: error)")
    parser.add_argument("--dataset-dir", metavar="DIR", help="override the configs' dataset_dir")
    parser.add_argument("--launch-dir", metavar="DIR",
                        help="the folder llamafactory-cli runs in, which the configs' relative paths resolve from "
                             "(default: inferred per config from the project's launch commands and LLaMA-Factory "
                             "checkouts, else the folder checked)")
    parser.add_argument("--llamafactory-version", metavar="VERSION",
                        help="target LLaMA-Factory version (default: the installed one, else the newest known)")
    parser.add_argument("--workers", type=int, metavar="N", help="processes for large datasets (default: cores)")
    # every record through the full pipeline: for comparing reports and timing the fast path, not for users
    parser.add_argument("--no-fast-path", dest="fast_path", action="store_false", default=True,
                        help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, metavar="N", help="devices the run uses, for step budgets")
    parser.add_argument("--baseline", metavar="FILE", help="ignore the findings recorded in FILE")
    parser.add_argument("--exclude", metavar="GLOBS", help="comma-separated globs to skip (replaces the config's)")
    parser.add_argument("--extend-exclude", metavar="GLOBS", help="comma-separated globs to skip as well")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE",
                       help="use this pyproject.toml or .lfgate.toml instead of the nearest one")
    where.add_argument("--isolated", action="store_true", help="ignore configuration files")


def _items(text):
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def _codes(text, option="--select"):
    from lfgate.config_file import check_known_codes

    codes = tuple(c.upper() for c in _items(text))
    check_known_codes(codes, option)
    return codes


def settings_from_args(args, overrides=None):
    """Defaults, then the config file ([tool.lfgate] / .lfgate.toml), then the command line."""
    from lfgate import config_file

    if getattr(args, "isolated", False):
        from lfgate.settings import Settings

        settings = Settings()
    elif getattr(args, "config", None):
        settings = config_file.load_file(args.config)
    else:
        settings = config_file.load_settings()
    if getattr(args, "select", None):
        settings.select = _codes(args.select)
    if getattr(args, "ignore", None):
        settings.ignore = _codes(args.ignore, "--ignore")
    if getattr(args, "fail_on", None):
        settings.fail_on = Severity.parse(args.fail_on)
    if getattr(args, "exclude", None):
        settings.exclude = _items(args.exclude)
    if getattr(args, "extend_exclude", None):
        settings.extend_exclude = tuple(settings.extend_exclude) + _items(args.extend_exclude)
    for name in ("dataset_dir", "llamafactory_version", "workers", "devices", "baseline"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)
    if getattr(args, "devices", None) is not None:
        settings.devices_from = "--devices"
    if getattr(args, "launch_dir", None):
        settings.launch_dir, settings.launch_dir_from = args.launch_dir, "--launch-dir"
    if settings.launch_dir and not os.path.isdir(settings.launch_dir):
        raise UsageError(f"{settings.launch_dir_from or 'launch-dir'}: {settings.launch_dir} is not a folder")
    if getattr(args, "fast_path", True) is False:
        settings.fast_path = False
    if getattr(args, "absolute_paths", False) and getattr(args, "format", "text") != "text":
        raise UsageError("--absolute-paths applies to --format text only: the other formats are read on other "
                         "machines and always name paths relative to the project")
    if settings.workers is not None and settings.workers < 1:
        raise UsageError("--workers must be at least 1")
    if settings.devices is not None and settings.devices < 1:
        raise UsageError("--devices must be at least 1")
    if getattr(args, "update_baseline", False) and not settings.baseline:
        raise UsageError("--update-baseline needs a file: --baseline FILE (or `baseline` in the configuration)")
    settings.overrides = dict(overrides or {})
    return settings


def files_read(paths, settings) -> set:
    """Real paths of the files a check of paths reads: what discovery finds, and the local files the
    registries found name (a report or baseline written over one of them would destroy the project)."""
    import json

    from lfgate.validator.project import discover

    targets = discover(paths, settings.all_excludes)
    found = set(targets.configs) | set(targets.registries) | set(targets.data_files)
    for registry in targets.registries:
        try:
            with guarded.open_regular(registry) as f:
                entries = json.loads(f.read(1 << 24))
        except (OSError, ValueError, RecursionError):
            continue
        folder = os.path.dirname(registry)
        for entry in entries.values() if isinstance(entries, dict) else ():
            name = entry.get("file_name") if isinstance(entry, dict) else None
            if isinstance(name, str) and "\0" not in name:
                found.add(os.path.join(folder, name))
    return {os.path.realpath(p) for p in found}


def guard_output(path: str, read: set, force: bool, what: str = "the report") -> None:
    """Refuse to write what over a file the check reads (even with --force), through a symlink, or over an
    existing file that is not lfgate's own output unless forced."""
    from lfgate import safe_write as output

    if os.path.realpath(path) in read:
        raise UsageError(f"{path} is read by this check; write {what} to another file")
    output.refuse_special(path)
    if os.path.exists(path) and not force and not output.is_own_output(path):
        raise UsageError(f"{path} exists and is not an lfgate report or baseline; pass --force to overwrite it")


def guard_outputs(args, paths, settings) -> None:
    """Check every file this run will write before it starts, so a refusal costs nothing."""
    wanted = [(getattr(args, "output_file", None), "the report")]
    if getattr(args, "update_baseline", False):
        wanted.append((settings.baseline, "the baseline"))
    targets = [(p, what) for p, what in wanted if p]
    if targets:
        read = files_read(paths, settings)
        for path, what in targets:
            guard_output(path, read, getattr(args, "force", False), what)


def write_output(path: str, render) -> None:
    """render(stream) into path atomically (a failure leaves the previous file whole)."""
    from lfgate.safe_write import atomic_file

    with atomic_file(path, force=True) as out:
        render(out)


def emit(report, args, settings) -> None:
    from lfgate import reporters
    from lfgate.config_file import project_root

    reporter = reporters.get(args.format)
    report.fail_on = settings.fail_on
    report.root = project_root(settings)
    report.absolute_paths = bool(getattr(args, "absolute_paths", False))
    if args.output_file:
        write_output(args.output_file, lambda out: reporter.render(report, out, color=False))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        reporter.render(report, sys.stdout, color=color)


def exit_code(report, settings) -> int:
    return 1 if any(d.severity >= settings.fail_on for d in report.diagnostics) else 0


def update_baseline(check, settings):
    """Run ``check(settings)`` without the baseline, record every finding in it, and return the report with
    what the new baseline silences removed (so the run passes unless a finding cannot be recorded)."""
    from lfgate import suppressions

    path, settings.baseline = settings.baseline, None
    report = check(settings)
    count = suppressions.write_baseline(path, report.diagnostics)
    settings.baseline = path
    report.diagnostics = suppressions.apply_baseline(report.diagnostics, path)
    print(f"lfgate: recorded {count} findings in {path}", file=sys.stderr)
    return report
