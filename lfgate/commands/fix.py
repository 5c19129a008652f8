"""`lfgate fix DATASET`: write a corrected copy without the records LLaMA-Factory would drop or crash on, with the
safe repairs, and report every record removed or changed (tools/fix.py)."""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="DATASET", help="the data file (.json, .jsonl, .csv, .parquet, ...)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="the corrected copy, .json or .jsonl (default: beside it, DATASET.fixed.json or .jsonl)")
    parser.add_argument("--stage", default="sft", choices=("pt", "sft", "rm", "ppo", "kto"),
                        help="the stage the data is for, as LLaMA-Factory loads it (default: sft)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="the report's format")


def run(args) -> int:
    from lfgate.commands.common import files_read
    from lfgate.settings import Settings
    from lfgate.tools import fix

    settings = Settings()
    read = files_read(["."], settings) if args.output else set()  # the default copy's name is lfgate's own
    result = fix.run_fix(args.file, args.output, args.stage, args.force, settings, read)
    if args.format == "json":
        from lfgate.jsonio import write_json

        write_json(result.to_dict(), sys.stdout)  # a lone surrogate from the data is written escaped
    else:
        _print_text(result)
    return 1 if result.remaining else 0


def _print_text(result) -> None:
    from lfgate.sanitize import safe

    def print(text):  # data in a message (a lone surrogate, an ESC) is shown escaped
        sys.stdout.write(safe(text) + "\n")

    for change in result.changes:
        print(f"sample {change.sample}: {change.action} [{change.code}] {change.message}")
    summary = result.to_dict()
    print(f"wrote {result.output}: {result.kept} records kept, {summary['removed']} removed, "
          f"{summary['changed']} changed; {result.source} is unchanged")
    for message in summary["remaining_errors"]:
        print(f"still an error in the copy: {message}")
