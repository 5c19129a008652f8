"""Check dataset_info.json, dataset files and training YAMLs, and the links between them.

PATH may be a project folder (default: the current one), a dataset_info.json, a training YAML or a data file.
Arguments of the form key=value are command-line overrides for the training YAML, as llamafactory-cli takes them.
"""

from __future__ import annotations

import sys

from lfgate.commands import common


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .); key=value overrides")
    common.add_check_arguments(parser)
    parser.add_argument("--update-baseline", action="store_true",
                        help="record the current findings in the --baseline FILE (and report none of them)")
    parser.add_argument("--force", action="store_true",
                        help="let --output-file / --update-baseline overwrite a file that is not an lfgate report")
    parser.add_argument("--show-settings", action="store_true",
                        help="print the resolved settings (config file, then command line) and exit")


def run(args) -> int:
    paths, overrides = common.split_overrides(args.paths)
    settings = common.settings_from_args(args, overrides)
    if args.show_settings:
        from lfgate.config_file import describe

        sys.stdout.write(describe(settings))
        return 0
    from lfgate.validator.engine import run_check

    common.guard_outputs(args, paths or ["."], settings)

    if args.update_baseline:
        report = common.update_baseline(lambda s: run_check(paths or ["."], s), settings)
    else:
        report = run_check(paths or ["."], settings)
    common.emit(report, args, settings)
    return common.exit_code(report, settings)
