"""Check dataset_info.json, dataset files and training YAMLs, and the links between them.

PATH may be a project folder (default: the current one), a dataset_info.json, a training YAML or a data file.
Arguments of the form key=value are command-line overrides for the training YAML, as llamafactory-cli takes them.
With --fix, each registered data file with errors also gets a corrected copy beside it (NAME.fixed.json or
.jsonl; the original is never touched), as `lfgate fix` writes it; what was removed or changed goes to stderr.
"""

from __future__ import annotations

import os
import sys

from lfgate.commands import common


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .); key=value overrides")
    common.add_check_arguments(parser)
    parser.add_argument("--update-baseline", action="store_true",
                        help="record the current findings in the --baseline FILE (and report none of them)")
    parser.add_argument("--fix", action="store_true",
                        help="write a corrected copy of each registered data file with errors beside it, "
                             "NAME.fixed.json (.jsonl for JSON Lines): without the records LLaMA-Factory drops or "
                             "crashes on, with the safe repairs; the original is never touched")
    parser.add_argument("--force", action="store_true",
                        help="let --output-file / --update-baseline overwrite a file that is not an lfgate report, "
                             "and --fix overwrite an existing NAME.fixed.json")
    parser.add_argument("--show-settings", action="store_true",
                        help="print the resolved settings (config file, then command line) and exit")


def run(args) -> int:
    paths, overrides = common.split_overrides(args.paths)
    settings = common.settings_from_args(args, overrides)
    if args.show_settings:
        from lfgate.config_file import describe

        sys.stdout.write(describe(settings))
        return 0
    from lfgate.validator.engine import Checker

    common.guard_outputs(args, paths or ["."], settings)
    checkers = []

    def check(s):
        checkers.append(Checker(s))
        return checkers[-1].run(paths or ["."])

    report = common.update_baseline(check, settings) if args.update_baseline else check(settings)
    fixes = _fix(checkers[-1], paths or ["."], args, settings) if args.fix else None
    common.emit(report, args, settings)
    if fixes is not None:
        _say_fixes(fixes)
    return common.exit_code(report, settings)


def _fix(checker, paths, args, settings):
    """The corrected copies (tools/fix.py), written before the report is shown: a refusal costs no report."""
    from lfgate.tools import fix

    read = common.files_read(paths, settings) | {os.path.realpath(p) for p in checker.files_read()}
    return fix.check_fix(checker, read, args.force, settings)


def _say_fixes(fixes) -> None:
    from lfgate.diagnostics import display_path
    from lfgate.sanitize import safe

    def print(text, file=sys.stderr):  # data in a message (a lone surrogate, an ESC) is shown escaped
        sys.stderr.write(safe(text) + "\n")

    for result in fixes.written:
        source, output = display_path(result.source), display_path(result.output)
        for change in result.changes:
            print(f"lfgate: fix: {source}: sample {change.sample}: {change.action} [{change.code}] "
                  f"{change.message}", file=sys.stderr)
        summary = result.to_dict()
        print(f"lfgate: fix: wrote {output}: {result.kept} records kept, {summary['removed']} removed, "
              f"{summary['changed']} changed; {source} is unchanged", file=sys.stderr)
        for message in summary["remaining_errors"]:
            print(f"lfgate: fix: still an error in {output}: {message}", file=sys.stderr)
    for note in fixes.notes:
        print(f"lfgate: fix: {note}", file=sys.stderr)
    if not fixes.written and not fixes.notes:
        print("lfgate: fix: no registered data file has errors; nothing written (`lfgate fix FILE` fixes a file "
              "no registry names)", file=sys.stderr)
