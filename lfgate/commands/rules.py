"""List every rule (code, severity, name, title), or explain one: why, an example that triggers it, the fix.

`--format json` gives the same data; `--format markdown` without a code prints docs/rules.md.
"""

from __future__ import annotations

import json
import sys

from lfgate.errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("code", nargs="?", help="explain this rule (e.g. LG001)")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")


def run(args) -> int:
    from lfgate import ruledoc
    from lfgate.registry import all_rules, index, lookup

    if args.code:
        code = args.code.strip().upper()
        chosen = lookup(code)  # imports only the family that declares it
        if chosen is None:
            raise UsageError(f"no rule {args.code}; `lfgate rules` lists them")
        if args.format == "json":
            _dump_json(chosen.to_dict())
        else:
            sys.stdout.write(ruledoc.explain(chosen))
    elif args.format == "json":
        _dump_json([r.to_dict() for r in all_rules().values()])
    elif args.format == "markdown":
        sys.stdout.write(ruledoc.document(all_rules().values()))
    else:  # the table: from the rule index, no rule family imported
        from rich.console import Console
        from rich.table import Table

        table = Table("code", "severity", "name", "title", box=None)
        for code, r in index().items():
            table.add_row(code, r["severity"], r["name"], r["title"])
        # Piped (grep, a file): one rule per line, however long its title.
        Console(soft_wrap=True, emoji=False, width=None if sys.stdout.isatty() else 400).print(table)
        print("\n`lfgate rules CODE` explains one rule.")
    return 0


def _dump_json(data) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
