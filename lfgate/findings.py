"""The last step of every run: what the user asked to see, minus what they silenced on purpose, one finding per cause.

``finalize`` applies selection (``--select``/``--ignore``), inline and per-file suppressions and the baseline to
the final list of findings, once, after every pass has added its own: `check` calls it after the Checker, `train`
after its RN rules too, so `bf16: true  # lfgate: ignore[RN010]` silences RN010 and is not called stale (SUP001).
Then ``fold`` drops what another finding at the same place covers.

One finding per cause is one declared relation: a rule names the findings it stands for, and where
(``rule(..., covers=("TY407", "TY411"))``, scope PLACE by default; registry.py lists the scopes). ``fold`` applies
it wherever the scope's findings meet: here for PLACE, per registry entry for DATASET and ROOT (engine.py), among a
dataset's summary findings for SUMMARY (samples/checker.py). A covering finding the user ignores covers nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional

from lfgate.diagnostics import Diagnostic
from lfgate.registry import PLACE, ROOT, SUMMARY, selected
from lfgate.settings import Settings


def finalize(diagnostics: Iterable[Diagnostic], settings: Settings, files: Iterable[str] = ()) -> List[Diagnostic]:
    """The findings to report. ``files``: every file the run read, so suppressions in files without findings
    are judged too (stale ones become SUP001)."""
    from lfgate import suppressions

    kept = [d for d in diagnostics if selected(d.code, settings.select, settings.ignore)]
    return fold(suppressions.apply(kept, settings, files), PLACE)


def _code(item) -> str:
    return item.code if isinstance(item, Diagnostic) else item.rule.code


def _rule(item) -> Any:
    if isinstance(item, Diagnostic):
        from lfgate.registry import RULES

        return RULES.get(item.code)  # a finding's rule is registered: its module made the finding
    return item.rule


def _place(item, scope: str):
    if scope == PLACE:
        return (item.file, item.line, item.column)
    if scope == SUMMARY:
        return None  # one dataset's summary findings: all in one place
    return item.dataset


def fold(items: list, scope: str, covering: Iterable = (), chosen: Optional[Callable[[str], bool]] = None) -> list:
    """``items`` less the findings that a covering finding of this scope stands for at its place, each dropped
    once. ``covering``: more covering findings, reported elsewhere (not returned). ``chosen(code)``: whether the user
    selected a covering finding's rule (default: every one; ``finalize`` folds what selection kept). A ROOT finding
    says what it folded."""
    covers: Dict[Any, list] = {}
    for item in list(covering) + items:
        rule = _rule(item)
        if rule is None or not rule.covers or rule.scope != scope or (chosen is not None and not chosen(rule.code)):
            continue
        covers.setdefault(_place(item, scope), []).append((item, rule.covers))
    if not covers:
        return items
    kept: list = []
    folded: Dict[int, list] = {}
    for item in items:
        code = _code(item)
        by = next((cover for cover, codes in covers.get(_place(item, scope), ())
                   if cover is not item and code.startswith(codes)), None)
        if by is None:
            kept.append(item)
        else:
            folded.setdefault(id(by), []).append(item)
    if scope != ROOT:
        return kept
    return [_noted(item, folded[id(item)]) if id(item) in folded else item for item in kept]


def _noted(root, folded: list):
    """The root cause, saying what it folded and how many samples that touches, at the worst severity among them
    and its own: a misspelt `formatting` that misreads every sample is the one error."""
    listed = ", ".join(sorted({_code(item) for item in folded}))
    samples = max([len({item.sample for item in folded if item.sample is not None})]
                  + [item.affected for item in folded if getattr(item, "affected", None)])
    touched = f"{samples} sample{'s' if samples != 1 else ''} affected: " if samples else ""
    worst = max([root.severity] + [item.severity for item in folded if item.severity is not None])
    return root.at(message=f"{root.message} ({touched}it causes the {len(folded)} sample finding(s) {listed} in the "
                           "data, folded here)", severity=worst)
