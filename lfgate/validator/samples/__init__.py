"""Sample-level rules: one module per family (alpaca, sharegpt, openai, ranking, kto, multimodal, tools, common),
run over each record by SampleChecker. Importing this package registers every DS rule."""

from lfgate.validator.samples import alpaca, common, kto, multimodal, openai, ranking, sharegpt, tools  # noqa: F401
from lfgate.validator.samples.base import Finding
from lfgate.validator.samples.checker import SampleChecker, effective_stage
from lfgate.validator.samples.infer import infer_entry

__all__ = ["Finding", "SampleChecker", "effective_stage", "infer_entry"]
