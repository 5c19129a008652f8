"""--format junit: JUnit XML, one testsuite per file and one failing testcase per diagnostic.

CI systems that only read test reports (GitLab, Jenkins, Azure) then list the findings. A clean run is one
passing testcase, so the report is never empty.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from lfguard.reporters import where

# Characters XML 1.0 cannot hold at all (dataset text may contain them): replaced, never written.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case_name(d) -> str:
    place = []
    if d.line is not None:
        place.append(f"line {d.line}" + (f", column {d.column}" if d.column is not None else ""))
    extra = where.context(d)
    if extra:
        place.append(extra)
    return f"{d.code} ({'; '.join(place)})" if place else d.code


def to_element(report) -> ET.Element:
    groups = defaultdict(list)
    for d in report.sorted():
        groups[where.path(d) or "<project>"].append(d)
    total = len(report.diagnostics)
    root = ET.Element("testsuites", name="lfguard", tests=str(max(total, 1)), failures=str(total), errors="0")
    if not groups:
        suite = ET.SubElement(root, "testsuite", name="lfguard", tests="1", failures="0", errors="0")
        ET.SubElement(suite, "testcase", name="lfguard check", classname="lfguard")
    for path, items in groups.items():
        suite = ET.SubElement(root, "testsuite", name=_clean(path), tests=str(len(items)),
                              failures=str(len(items)), errors="0")
        for d in items:
            case = ET.SubElement(suite, "testcase", name=_clean(_case_name(d)), classname=_clean(path))
            failure = ET.SubElement(case, "failure", message=_clean(d.message), type=str(d.severity))
            failure.text = _clean(f"{d.code} ({d.severity}): {where.message(d)}")
    return root


def render(report, stream, color: bool = False) -> None:
    root = to_element(report)
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")
