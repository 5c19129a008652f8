"""Sample-level rules (DS). Each family module (alpaca, sharegpt, openai, ranking, kto, multimodal, tools, common)
declares its rules and the small pure helpers they share; the checks themselves run in ``checker.py``
(``SampleChecker.check``: per record, after the converter) and ``finish.py`` (``dataset_findings``: per dataset,
from the merged counters). Importing this package registers every DS rule. A rule that judges a message's text
declares ``refuses_text`` so the fast paths (validator/fastpath.py, typed.py) send such records the full way;
``tests/test_rules_at_scale.py`` proves each rule still fires at scale. CONTRIBUTING.md: "Adding a rule"."""

from lfgate.validator.samples import (  # noqa: F401
    alpaca,
    common,
    kto,
    multimodal,
    openai,
    ranking,
    sharegpt,
    tools,
    whitespace,
)
from lfgate.validator.samples.base import Finding
from lfgate.validator.samples.checker import SampleChecker, effective_stage
from lfgate.validator.samples.infer import infer_entry

__all__ = ["Finding", "SampleChecker", "effective_stage", "infer_entry"]
