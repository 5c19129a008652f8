"""Run lfgate's SampleChecker over records in memory: (code, sample, path) triples, plus the checker."""

import os

from lfgate.settings import Settings
from lfgate.validator.dataset_info import resolve_entry
from lfgate.validator.model import DatasetUsage, Registry
from lfgate.validator.samples import SampleChecker


def entry_of(raw, dataset_dir="."):
    raw = {"file_name": "x.json", **raw}
    return resolve_entry("x", raw, Registry(path=os.path.join(dataset_dir, "dataset_info.json"),
                                            dataset_dir=dataset_dir))


def run(raw, records, stage=None, dataset_dir=".", chunks=None, **usage):
    """Findings as (code, sample, path); ``chunks`` splits the records over several merged checkers, as the
    dataset layer does with worker processes."""
    entry = entry_of(raw, dataset_dir)
    parts = chunks or [range(len(records))]
    checkers, findings = [], []
    for part in parts:
        checker = SampleChecker(entry, DatasetUsage(stage=stage, **usage), Settings())
        for i in part:
            findings += checker.check(i, records[i])
        checkers.append(checker)
    main = checkers[0]
    for other in checkers[1:]:
        main.merge(other)
    findings += main.finish()
    return findings, main


def codes(raw, records, stage=None, **kw):
    findings, _ = run(raw, records, stage, **kw)
    return [(f.rule.code, f.sample, tuple(f.path)) for f in findings]


def severities(raw, records, stage=None, **kw):
    findings, _ = run(raw, records, stage, **kw)
    return {f.rule.code: str(f.severity if f.severity is not None else f.rule.severity) for f in findings}
