"""--format junit: JUnit XML, one testsuite per file and one testcase per diagnostic.

CI systems that only read test reports (GitLab, Jenkins, Azure) then list the findings. Only findings at or above
the run's failure level (--fail-on, default error) are failures, as they are for the exit code; the others are
passing testcases whose `<system-out>` holds the finding. A clean run is one passing testcase, so the report is
never empty. Written line by line: a million findings stay fast.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

from lfgate.diagnostics import Report
from lfgate.reporters import where
from lfgate.sanitize import clean_report

# Characters XML 1.0 cannot hold at all (dataset text may contain them): replaced, never written.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_WHITESPACE = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}  # kept as written, not folded to spaces


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _attr(value) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)), _ATTR_WHITESPACE)


def _tag(name: str, attrs: dict, end: str = ">") -> str:
    return f"<{name}" + "".join(f" {k}={_attr(v)}" for k, v in attrs.items()) + end


def _case_name(d) -> str:
    place = []
    if d.line is not None:
        place.append(f"line {d.line}" + (f", column {d.column}" if d.column is not None else ""))
    extra = where.context(d)
    if extra:
        place.append(extra)
    return f"{d.code} ({'; '.join(place)})" if place else d.code


def render(report: Report, stream: TextIO, color: bool = False) -> None:
    fail_on = report.fail_on
    report = clean_report(report)
    groups = defaultdict(list)
    for d in report.sorted():
        groups[where.path(d) or "<project>"].append(d)
    total = len(report.diagnostics)
    failures = sum(1 for d in report.diagnostics if d.severity >= fail_on)
    write = stream.write
    write('<?xml version="1.0" encoding="UTF-8"?>\n')
    write(_tag("testsuites", {"name": "lfgate", "tests": max(total, 1), "failures": failures, "errors": 0}) + "\n")
    if not groups:
        write('  <testsuite name="lfgate" tests="1" failures="0" errors="0">\n')
        write('    <testcase name="lfgate check" classname="lfgate" />\n')
        write("  </testsuite>\n")
    for path, items in groups.items():
        failing = sum(1 for d in items if d.severity >= fail_on)
        write("  " + _tag("testsuite", {"name": path, "tests": len(items), "failures": failing, "errors": 0}) + "\n")
        for d in items:
            write("    " + _tag("testcase", {"name": _case_name(d), "classname": path}) + "\n")
            text = _text(f"{d.code} ({d.severity}): {where.message(d)}")
            if d.severity >= fail_on:
                write("      " + _tag("failure", {"message": d.message, "type": d.severity}) + text + "</failure>\n")
            else:  # below the failure level: reported, not failed
                write(f"      <system-out>{text}</system-out>\n")
            write("    </testcase>\n")
        write("  </testsuite>\n")
    write("</testsuites>\n")
