"""Load datasets with LLaMA-Factory's own parser.py + loader.py (file reading and conversion); print the outcome.

Executed only with a Python that has the real `llamafactory` (tests/test_datafile_vs_llamafactory.py runs it in a
subprocess and skips when there is none); lfgate itself never imports llamafactory.

stdin: [{"dataset_dir": "...", "name": "...", "cache_dir": "..."}, ...]
stdout: per case {"rows": n} or {"error": "ValueError: ..."} (the innermost cause first, as a user would need it).
"""

import json
import logging
import os
import sys
from types import SimpleNamespace


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return f"{type(err).__name__}: {err}"


def main():
    logging.disable(logging.CRITICAL)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list

    results = []
    for case in json.load(sys.stdin):
        model_args = SimpleNamespace(cache_dir=case["cache_dir"], hf_hub_token=None, ms_hub_token=None,
                                     om_hub_token=None)
        data_args = SimpleNamespace(dataset_dir=case["dataset_dir"], media_dir=case["dataset_dir"],
                                    preprocessing_num_workers=None, streaming=False, max_samples=None,
                                    overwrite_cache=True)
        training_args = SimpleNamespace(local_process_index=0, dataloader_num_workers=0, seed=42)
        try:
            (attr,) = get_dataset_list([case["name"]], case["dataset_dir"])
            dataset = _load_single_dataset(attr, model_args, data_args, training_args)
            results.append({"rows": len(dataset)})
        except Exception as err:  # noqa: BLE001 - the oracle reports whatever LLaMA-Factory raises
            results.append({"error": f"{type(err).__name__}: {err}"[:300], "cause": _cause(err)[:300]})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
