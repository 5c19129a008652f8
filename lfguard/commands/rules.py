"""List every rule (code, severity, title), or explain one: why, an example that triggers it, the fix."""

from __future__ import annotations

import json
import sys

from lfguard.errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("code", nargs="?", help="explain this rule")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")


def run(args) -> int:
    from lfguard.registry import all_rules

    rules = all_rules()
    if args.code:
        code = args.code.upper()
        if code not in rules:
            raise UsageError(f"no rule {args.code}; `lfguard rules` lists them")
        chosen = [rules[code]]
    else:
        chosen = list(rules.values())
    if args.format == "json":
        json.dump([r.to_dict() for r in chosen] if not args.code else chosen[0].to_dict(), sys.stdout,
                  ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.format == "markdown" or args.code:
        sys.stdout.write("\n".join(explain(r) for r in chosen))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("code", "severity", "name", "title", box=None)
        for r in chosen:
            table.add_row(r.code, str(r.severity), r.name, r.title)
        Console(soft_wrap=True).print(table)
    return 0


def explain(rule) -> str:
    """One rule as Markdown: the same text for `lfguard rules CODE` and docs/rules.md."""
    out = [f"## {rule.code} {rule.name}", "", f"**{rule.title}** (default severity: {rule.severity})", ""]
    if rule.why:
        out += ["### Why", "", rule.why, ""]
    for label, files in (("Triggers it", rule.bad), ("Passes", rule.good)):
        if files:
            out += [f"### {label}", ""]
            if rule.target or rule.args:
                out += [f"`lfguard check {' '.join([rule.target or '.', *rule.args])}`", ""]
            for path, text in files.items():
                lang = "yaml" if path.endswith((".yaml", ".yml")) else "json" if path.endswith((".json", ".jsonl")) else ""
                out += [f"`{path}`:", "", f"```{lang}", text.rstrip("\n"), "```", ""]
    if rule.fix:
        out += ["### Fix", "", rule.fix, ""]
    return "\n".join(out) + "\n"
