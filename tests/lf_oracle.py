"""Run LLaMA-Factory's own converter on cases read from stdin; print the aligned samples as JSON.

Executed only with a Python that has the real `llamafactory` (tests/test_converter.py runs it in a subprocess and
skips when there is none); lfgate itself never imports llamafactory.

stdin: [{"entry": {...dataset_info.json entry...}, "records": [...], "media_dir": "..."}, ...]
stdout: per case, per record: {"ok": {"_prompt": ..., ...}} or {"error": "KeyError: 'x'"}; or per case
{"load_error": "..."} when datasets cannot even build the table.
"""

import json
import logging
import sys
from types import SimpleNamespace


def main():
    logging.disable(logging.CRITICAL)
    from datasets import Dataset
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import DatasetAttr

    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        attr = DatasetAttr(load_from="file", dataset_name="case")
        attr.join(case["entry"])
        data_args = SimpleNamespace(media_dir=case.get("media_dir") or ".")
        try:
            converter = get_dataset_converter(attr.formatting, attr, data_args)
            rows = list(Dataset.from_list(case["records"])) if case.get("arrow", True) else case["records"]
        except Exception as err:  # noqa: BLE001 - the oracle reports whatever LLaMA-Factory raises
            results.append({"load_error": f"{type(err).__name__}: {err}"})
            continue
        out = []
        for row in rows:
            try:
                out.append({"ok": converter(row)})
            except Exception as err:  # noqa: BLE001
                out.append({"error": f"{type(err).__name__}: {err}"})
        results.append(out)
    json.dump(results, sys.stdout, ensure_ascii=False, default=str)


if __name__ == "__main__":
    main()
