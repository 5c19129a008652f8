"""Arguments and output shared by `check` and `train`."""

from __future__ import annotations

import argparse
import os
import sys

from lfgate.diagnostics import Severity
from lfgate.errors import UsageError


def add_check_arguments(parser) -> None:
    from lfgate.reporters import FORMATS

    parser.add_argument("--format", default="text", choices=list(FORMATS), help="output format (default: text)")
    parser.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--select", metavar="CODES", help="comma-separated rule codes or prefixes to report")
    parser.add_argument("--ignore", metavar="CODES", help="comma-separated rule codes or prefixes to skip")
    parser.add_argument("--fail-on", choices=["error", "warning", "info"], help="failure level (default: error)")
    parser.add_argument("--dataset-dir", metavar="DIR", help="override the configs' dataset_dir")
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


def split_overrides(items):
    paths, overrides = [], {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if sep and key and "/" not in key and not os.path.exists(item):
            overrides[key.lstrip("-")] = value
        else:
            paths.append(item)
    return paths, overrides


def _items(text):
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def _codes(text):
    return tuple(c.upper() for c in _items(text))


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
        settings.ignore = _codes(args.ignore)
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
    if getattr(args, "fast_path", True) is False:
        settings.fast_path = False
    if settings.workers is not None and settings.workers < 1:
        raise UsageError("--workers must be at least 1")
    if settings.devices is not None and settings.devices < 1:
        raise UsageError("--devices must be at least 1")
    if getattr(args, "update_baseline", False) and not settings.baseline:
        raise UsageError("--update-baseline needs a file: --baseline FILE (or `baseline` in the configuration)")
    settings.overrides = dict(overrides or {})
    return settings


def emit(report, args, settings) -> None:
    from lfgate import reporters

    reporter = reporters.get(args.format)
    if args.output_file:
        try:
            with open(args.output_file, "w", encoding="utf-8") as out:
                reporter.render(report, out, color=False)
        except OSError as err:
            raise UsageError(f"cannot write {args.output_file}: {err.strerror}") from None
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
