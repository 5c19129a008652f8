"""Turn a spreadsheet or table (.xlsx, .csv, .tsv, .parquet, .json, .jsonl) into alpaca or sharegpt data.

Columns are mapped on the command line; rows can be filtered; the output is checked with the same rules as
`lfgate check` before it is written (atomically, never over an existing file without --force), and can be
registered in dataset_info.json in the same step.

  lfgate convert answers.xlsx data/train.json --instruction-file prompt.txt --input question --output answer \\
      --where 'answer contains "```yaml"' --register
"""

from __future__ import annotations

import os
import sys

from lfgate.errors import UsageError
from lfgate.readers import guarded
from lfgate.tools.registry_edit import check_editable

OUTPUT_SUFFIXES = (".json", ".jsonl")


def add_arguments(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the example's lines
    parser.add_argument("input", metavar="TABLE", help="the table to read")
    parser.add_argument("output", metavar="OUT", help="the data file to write (.json or .jsonl)")
    parser.add_argument("--to", choices=["alpaca", "sharegpt"],
                        help="output format (default: sharegpt with --user/--assistant/--conversation, else alpaca)")
    parser.add_argument("--sheet", metavar="NAME", help="Excel sheet (default: the first)")
    group = parser.add_argument_group("alpaca columns")
    group.add_argument("--instruction", metavar="COL|TEXT", help="column or fixed text for the instruction")
    group.add_argument("--instruction-file", metavar="FILE", help="fixed instruction text read from FILE (UTF-8)")
    group.add_argument("--input", dest="input_col", metavar="COL", help="column for the input")
    group.add_argument("--output", dest="output_col", metavar="COL", help="column for the response")
    group = parser.add_argument_group("sharegpt columns")
    group.add_argument("--user", metavar="COL", help="column for the user turn")
    group.add_argument("--assistant", metavar="COL", help="column for the assistant turn")
    group.add_argument("--conversation", metavar="COL",
                       help="column already holding a conversation (a list of messages, or its JSON text)")
    parser.add_argument("--system", metavar="COL|TEXT", help="column or fixed text for the system prompt")
    group = parser.add_argument_group("filters (the report counts what each removed)")
    group.add_argument("--where", action="append", default=[], metavar="EXPR",
                       help="keep rows where EXPR holds, e.g. 'answer contains SKIP or answer contains \"```yaml\"'; "
                            "operators: contains, startswith, endswith, equals, matches (regex), empty, each "
                            "optionally after `not`; `and` binds tighter than `or` (repeatable: all must hold)")
    group.add_argument("--keep-empty", action="store_true", help="keep rows whose response is empty")
    group.add_argument("--keep-duplicates", action="store_true", help="keep exact duplicate records")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.add_argument("--register", nargs="?", const=True, metavar="NAME",
                        help="add or update the entry in dataset_info.json (default name: OUT's stem)")
    parser.add_argument("--dataset-info", metavar="PATH",
                        help="the registry for --register (default: dataset_info.json beside OUT)")


def run(args) -> int:
    from lfgate import safe_write as output
    from lfgate.tools import filters, register, table
    from lfgate.validator.infer import Inconsistent, infer

    if not args.output.endswith(OUTPUT_SUFFIXES):
        raise UsageError(f"{args.output}: the output must end in .json or .jsonl")
    if os.path.abspath(args.output) == os.path.abspath(args.input):
        raise UsageError("the output must not be the input file")
    output.refuse_overwrite(args.output, args.force)
    try:
        columns, rows = table.read_rows(args.input, args.sheet)
    except (table.MissingExtra, table.TooLarge) as err:
        # Not a usage error: the command line is right, this machine or this file cannot do it (exit 1).
        print(f"lfgate: cannot convert {args.input}: {err}", file=sys.stderr)
        return 1
    mapping = _mapping(args, columns)
    wheres = [filters.parse_where(text, columns) for text in args.where]
    report, rows_of, records = _convert(args, rows, mapping, wheres)
    if not records:
        _print_report(args, report, mapping)
        print(f"lfgate: nothing to write: no row of {args.input} is left after the filters", file=sys.stderr)
        return 1

    # Where it would be registered: checked before anything is written.
    registry_path = args.dataset_info or os.path.join(os.path.dirname(args.output), "dataset_info.json")
    name = args.register if isinstance(args.register, str) else register.dataset_name(args.output)
    file_name = register.file_name_for(args.output, registry_path)
    current = None
    if args.register:
        register.check_name(name)
        check_editable(registry_path)
        current = register.guard_existing(registry_path, name, file_name, args.force)
    try:
        inferred = infer(enumerate(records))
    except Inconsistent as err:  # cannot happen for records built here; keep the message if it ever does
        raise UsageError(f"internal: the converted records do not fit one entry: {err.render()}") from None

    from lfgate.sanitize import safe

    entry = dict({"file_name": file_name}, **inferred.entry)
    if current is not None and current.get("file_name") == file_name and not args.force \
            and register.merged(current, entry) != current:
        print("\n".join(safe(line) for line in register.differences(current, register.merged(current, entry))))
        print(safe(f"lfgate: not written: entry {name!r} would change as above; pass --force to update it"),
              file=sys.stderr)
        return 1
    if not _write_checked(args, records, rows_of, report, mapping, inferred.entry, name, registry_path):
        return 1
    print(f"wrote {len(records)} {mapping.to} records to {args.output}")
    if args.register:
        action = register.commit_entry(registry_path, name, entry, args.force)
        if action == "refused":
            return 1
        print(f"{action} entry {name!r} in {registry_path}")
    return 0


def _convert(args, rows, mapping, wheres):
    """(filter report, input row of each output record, records): --where on rows, mapping, then the record
    filters (empty responses, exact duplicates)."""
    from lfgate.tools import convert

    report = convert.FilterReport()
    pairs = convert.filter_rows(rows, wheres, report)
    try:
        records = convert.build(pairs, mapping)
    except convert.RowError as err:
        raise UsageError(f"{args.input}: {err}") from None
    kept = convert.filter_records(records, not args.keep_empty, not args.keep_duplicates, report)
    return report, [i for i, _ in kept], [r for _, r in kept]


def _write_checked(args, records, rows_of, report, mapping, raw_entry, name, registry_path) -> bool:
    """Write the records to a temp file, check it as `lfgate check` would through the entry, then move it into
    place; or, on errors, show them (with the table rows they come from), remove it and return False."""
    from lfgate import safe_write as output
    from lfgate.tools import convert, validate

    temp = output.temp_path_for(args.output)
    try:
        output.write_temp(temp, convert.serialize(records, jsonl=args.output.endswith(".jsonl")))
        found = validate.check_file(temp, raw_entry, name, registry_path, shown_as=args.output)
        _print_report(args, report, mapping)
        errors = [d for d in found if str(d.severity) == "error"]
        if errors:
            validate.print_diagnostics(found, text_of=(args.output, temp), samples=len(records))
            samples = sorted({d.sample for d in errors if d.sample is not None and d.sample < len(rows_of)})
            if samples:
                shown = ", ".join(f"sample {s} = row {rows_of[s]}" for s in samples[:10])
                print(f"  rows of {args.input} (0-based, after the header): {shown}"
                      + (f" and {len(samples) - 10} more" if len(samples) > 10 else ""))
            print(f"lfgate: not written: {len(errors)} error(s) in the converted data", file=sys.stderr)
            output.remove(temp)
            return False
        output.refuse_overwrite(args.output, args.force)  # it may have appeared meanwhile
        output.commit(temp, args.output)
    except BaseException:
        output.remove(temp)
        raise
    if found:
        validate.print_diagnostics(found, samples=len(records))
    return True


def _mapping(args, columns):
    from lfgate.tools.convert import Mapping, Source, column, column_or_text

    sharegpt_cols = args.user or args.assistant or args.conversation
    to = args.to or ("sharegpt" if sharegpt_cols else "alpaca")
    mapping = Mapping(to=to)
    if args.system is not None:
        mapping.system = column_or_text("--system", args.system, columns)
    if to == "alpaca":
        if sharegpt_cols:
            raise UsageError("--user/--assistant/--conversation make sharegpt data; drop --to alpaca")
        if args.instruction is not None and args.instruction_file:
            raise UsageError("give --instruction or --instruction-file, not both")
        if args.instruction_file:
            mapping.instruction = Source(text=_read_text(args.instruction_file))
        elif args.instruction is not None:
            mapping.instruction = column_or_text("--instruction", args.instruction, columns)
        if args.input_col:
            mapping.input = column("--input", args.input_col, columns)
        if not args.output_col:
            raise UsageError("alpaca output needs --output COL (the response column)")
        mapping.output = column("--output", args.output_col, columns)
        if mapping.instruction is None and mapping.input is None:
            raise UsageError("alpaca output needs --instruction COL|TEXT, --instruction-file or --input COL")
        return mapping
    if args.instruction is not None or args.instruction_file or args.input_col or args.output_col:
        raise UsageError("--instruction/--input/--output make alpaca data; for sharegpt use --user and --assistant")
    if args.conversation:
        if args.user or args.assistant:
            raise UsageError("give --conversation, or --user and --assistant, not both")
        column("--conversation", args.conversation, columns)
        mapping.conversation = args.conversation
        return mapping
    if not (args.user and args.assistant):
        raise UsageError("sharegpt output needs --user COL and --assistant COL, or --conversation COL")
    mapping.user = column("--user", args.user, columns)
    mapping.assistant = column("--assistant", args.assistant, columns)
    return mapping


def _read_text(path: str) -> str:
    try:
        with guarded.open_regular(path, "r", encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    text = text.rstrip("\r\n")  # the file's final newline is not part of the prompt
    if not text.strip():
        raise UsageError(f"{path} is empty")
    return text


DROPPED_SHOWN = 50  # a sheet's worth; a filter that removes 100k rows must not print them all


def _print_report(args, report, mapping) -> None:
    print(f"read {report.rows} rows from {args.input}")
    for field in ("instruction", "input", "output", "system", "user", "assistant"):
        source = getattr(mapping, field)
        if source is not None:
            print(f"  {field:<12} <- {source.describe()}")
    if mapping.conversation:
        print(f"  {'conversation':<12} <- column {mapping.conversation!r}")
    for what, removed in report.removed:
        print(f"  removed {removed:>6}  {what}")
    print(f"  kept    {report.kept:>6}")
    if report.dropped:
        print(f"  rows removed, of {args.input} (0-based, after the header):")
        for row, why in sorted(report.dropped)[:DROPPED_SHOWN]:
            print(f"    row {row}: {why}")
        if len(report.dropped) > DROPPED_SHOWN:
            print(f"    ... and {len(report.dropped) - DROPPED_SHOWN} more")
