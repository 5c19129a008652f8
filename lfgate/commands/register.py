"""Add a data file to dataset_info.json, with the entry inferred from its content.

The formatting (alpaca, sharegpt, OpenAI-style role/content messages through tags), ranking, KTO and media columns
are read from the records. When records disagree (two shapes, two names for one role, a field with two types), it
refuses and shows the records that disagree. The file is then checked through the inferred entry, as
`lfgate check` would, and the entry is written only when that finds no error.
"""

from __future__ import annotations

import json
import sys

from lfgate.diagnostics import display_path
from lfgate.tools.registry_edit import check_editable


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", help="the data file (.json, .jsonl, .csv, .parquet, .arrow, .txt), "
                                                    "or a folder of them")
    parser.add_argument("--name", help="the dataset name (default: the file name without its extension)")
    parser.add_argument("--dataset-info", metavar="PATH",
                        help="the registry (default: the nearest dataset_info.json at or above FILE, else a new one "
                             "beside it)")
    parser.add_argument("--dry-run", action="store_true", help="show the entry, write nothing")
    parser.add_argument("--force", action="store_true",
                        help="replace an entry of that name for another file, or change an existing entry for this "
                             "file (keys you wrote are kept); register despite check errors")


def run(args) -> int:
    from lfgate.sanitize import safe
    from lfgate.tools import register, validate
    from lfgate.validator.infer import Inconsistent

    try:
        plan = register.plan(args.file, args.name, args.dataset_info, args.force)
    except register.Unreadable as err:
        print(safe(f"lfgate: cannot register {args.file}: {err}"), file=sys.stderr)
        return 1
    except Inconsistent as err:
        print("\n".join(safe(line) for line in f"lfgate: cannot register {args.file}: {err.render()}".split("\n")),
              file=sys.stderr)
        return 1
    check_editable(plan.registry_path)
    print(safe(f"{args.file}: {plan.inferred.samples} records, {plan.inferred.description}"))
    print(safe(f"entry {plan.name!r} for {display_path(plan.registry_path)}:"))
    print("\n".join(map(safe, json.dumps({plan.name: plan.entry}, ensure_ascii=False, indent=2).split("\n"))))
    raw = {k: v for k, v in plan.entry.items() if k != "file_name"}
    found = validate.check_file(args.file, raw, plan.name, plan.registry_path, stage=plan.stage)
    if found:
        validate.print_diagnostics(found, samples=plan.inferred.samples)
    errors = sum(1 for d in found if str(d.severity) == "error")
    if errors and not args.force:
        print(f"lfgate: not registered: {errors} error(s) when {plan.stage} training reads {args.file} "
              "(--force registers it anyway)", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    others = register.other_names(plan.registry_path, plan.name, plan.entry["file_name"])
    action = register.commit_entry(plan.registry_path, plan.name, plan.entry, args.force)
    if action == "refused":
        return 1
    if others:
        print(safe(f"note: {plan.entry['file_name']} is also registered as {', '.join(map(repr, others))}"))
    print(f"{action} entry {plan.name!r} in {display_path(plan.registry_path)}")
    return 0
