"""--format sarif: SARIF 2.1.0 as GitHub code scanning accepts it (upload with github/codeql-action/upload-sarif).

Only the rules that have results are described, each with its docs/rules.md section as ``helpUri``. Every
result has exactly one physical location (a relative URI; a region when the file has lines).
Columns count Unicode code points, as lfgate's readers do.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TextIO
from urllib.parse import quote

from lfgate import __version__, ruledoc
from lfgate.diagnostics import Report, Severity
from lfgate.reporters import where
from lfgate.reporters.json_format import write_json
from lfgate.sanitize import clean_report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _descriptor(code: str, rule) -> dict:
    if rule is None:  # a code no module declares (should not happen): still a valid descriptor
        return {"id": code}
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why or rule.title},
        "help": {"text": rule.fix or rule.title, "markdown": ruledoc.explain(rule)},
        "helpUri": ruledoc.url(rule),
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
    }


@lru_cache(maxsize=4096)
def _uri(path: str) -> str:
    return quote(path)


def _location(d):
    # GitHub rejects the whole upload if one result lacks a location, so a finding about the project as a
    # whole points at the project folder.
    physical = {"artifactLocation": {"uri": _uri(where.path(d) or ".")}}
    if d.line:  # SARIF lines and columns start at 1; anything else is left out rather than made invalid
        region = {"startLine": d.line}
        for key, value in (("startColumn", d.column), ("endLine", d.end_line), ("endColumn", d.end_column)):
            if value:
                region[key] = value
        physical["region"] = region
    return {"physicalLocation": physical}


def to_object(report, rules=None) -> dict:
    diagnostics = report.sorted()
    codes = sorted({d.code for d in diagnostics})
    if rules is None:  # the rules of the codes found, each family imported only if it is not yet
        from lfgate.registry import lookup

        rules = {code: lookup(code) for code in codes}
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d in diagnostics:
        result = {"ruleId": d.code, "ruleIndex": index[d.code], "level": LEVEL[d.severity],
                  "message": {"text": where.message(d)}}
        result["locations"] = [_location(d)]
        extra = {key: value for key, value in (("dataset", d.dataset), ("sample", d.sample)) if value is not None}
        if extra:
            result["properties"] = extra
        results.append(result)
    driver = {"name": "lfgate", "version": __version__, "semanticVersion": __version__,
              "informationUri": ruledoc.HOMEPAGE, "rules": [_descriptor(c, rules.get(c)) for c in codes]}
    return {"$schema": SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}]}


def render(report: Report, stream: TextIO, color: bool = False, rules=None) -> None:
    write_json(to_object(clean_report(report), rules), stream)
