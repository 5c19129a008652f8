"""The training samples, read through lfgate's own readers and converter, so what trains is what was checked.

Follows LLaMA-Factory's loader: each named dataset once (in order), ``max_samples`` first records of each,
conversion (validator/converter.py), the datasets are concatenated, then ``val_size`` splits off an eval set with
the same permutation as ``datasets``' ``train_test_split(test_size, seed)``, and only then are the samples its SFT
processor would drop ("Dropped invalid example") left out: the split counts them, as LLaMA-Factory's does. Each
kept sample remembers its row in its split, which decides the preprocessing batch it is packed in (packing.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from lfgate.runner.config import RunConfig


@dataclass
class Sample:
    dataset: str
    index: int  # 0-based record index in its dataset
    prompt: list
    response: list
    system: Optional[str]
    tools: Optional[str]
    kept: bool = True  # False: LLaMA-Factory's SFT processor drops it ("Dropped invalid example")
    row: int = 0  # its row in the train or eval split that LLaMA-Factory maps in batches (set by load_samples)


class DataError(Exception):
    """The data cannot be trained as it stands (LLaMA-Factory raises too); the message says why."""


def registry_path(config: RunConfig, dataset_dir: Optional[str] = None) -> str:
    # dataset_dir resolves against the working directory, as in LLaMA-Factory (parser.py)
    return os.path.join(dataset_dir or config.dataset_dir, "dataset_info.json")


_FATAL = ("unreadable", "not-utf8", "invalid-json", "too-deep", "top-level")


def _records(path: str) -> Iterator[object]:
    """Record values of a local data file or folder, read by lfgate's readers in LLaMA-Factory's order.

    `lfgate train` refuses to launch when `lfgate check` found errors in the file, so a fatal problem here
    means the file changed in between."""
    from lfgate.readers import builder, iter_records
    from lfgate.readers.records import Record

    if not os.path.isdir(path) and builder(path) in (None, "text"):
        raise DataError(f"{path}: the built-in runner reads json, jsonl, csv, parquet and arrow files; "
                        "use --backend llamafactory")
    for item in iter_records(path):
        if isinstance(item, Record):
            yield item.value
        elif item.kind in _FATAL:
            raise DataError(f"{item.file}: {item.message}")


def load_dataset(name: str, config: RunConfig, dataset_dir: Optional[str] = None) -> List[Sample]:
    """Every record of the dataset (up to max_samples), converted; those the SFT processor drops are kept=False."""
    from lfgate.settings import Settings
    from lfgate.validator import converter, dataset_info

    path = registry_path(config, dataset_dir)
    registry = dataset_info.load_registry(path, Settings())
    if not registry.readable:
        raise DataError(f"cannot read {path}")
    entry = registry.entries.get(name)
    if entry is None:
        raise DataError(f"dataset {name!r} is not defined in {path}")
    if entry.local_path is None:
        raise DataError(f"dataset {name!r} is not a local file; the built-in runner reads local files only: "
                        "use --backend llamafactory")
    media_dir = config.values.get("media_dir") or (dataset_dir or config.dataset_dir)
    max_samples = config.values.get("max_samples")
    samples = []
    for index, record in enumerate(_records(entry.local_path)):
        if max_samples is not None and index >= int(max_samples):
            break
        try:
            aligned = converter.align(record, entry, media_dir)
        except converter.ConversionError as err:
            raise DataError(f"dataset {name!r}, sample {index}: {err.message} ({err.raises})") from None
        if not converter.kept_by_stage(aligned, "sft"):  # LLaMA-Factory: "Dropped invalid example", after the split
            samples.append(Sample(name, index, aligned.prompt, aligned.response, None, None, kept=False))
            continue
        if aligned.images or aligned.videos or aligned.audios:
            raise DataError(f"dataset {name!r}, sample {index} has images, videos or audios: the built-in runner "
                            "trains text only; use --backend llamafactory")
        samples.append(Sample(name, index, aligned.prompt, aligned.response, aligned.system or None,
                              aligned.tools or None))
    return samples


def load_samples(config: RunConfig, dataset_dir: Optional[str] = None) -> Tuple[List[Sample], List[Sample]]:
    """(train, eval) samples, as LLaMA-Factory's get_dataset produces them before tokenisation (kept ones only,
    each with its row in its split)."""
    train: List[Sample] = []
    for name in dict.fromkeys(config.datasets):  # a repeated name loads once
        train += load_dataset(name, config, dataset_dir)
    evaluation: List[Sample] = []
    for name in dict.fromkeys(config.eval_datasets):
        evaluation += load_dataset(name, config, dataset_dir)
    val_size = float(config.get("val_size", 0.0) or 0.0)
    if val_size > 1e-6:
        if evaluation:
            raise DataError("cannot set val_size together with eval_dataset")
        train, evaluation = split(train, val_size, int(config.get("seed", 42)))
    return _kept(train), _kept(evaluation)


class Split(list):
    """The kept samples of a train or eval split; ``n_rows`` counts its rows, dropped ones included."""

    n_rows = 0


def _kept(rows: List[Sample]) -> Split:
    out = Split()
    out.n_rows = len(rows)
    for row, sample in enumerate(rows):
        if sample.kept:
            sample.row = row
            out.append(sample)
    return out


def split_sizes(n: int, val_size: float) -> Tuple[int, int]:
    """(train, test) sizes of datasets' train_test_split: an int size above 1, else a fraction rounded up."""
    n_test = int(val_size) if val_size > 1 else math.ceil(val_size * n)
    if n_test >= n or n_test < 1:
        raise DataError(f"val_size {val_size} leaves no training samples out of {n}")
    return n - n_test, n_test


def split(samples: list, val_size: float, seed: int) -> Tuple[list, list]:
    import numpy as np

    n_train, n_test = split_sizes(len(samples), val_size)
    permutation = np.random.default_rng(seed).permutation(len(samples))
    test = [samples[i] for i in permutation[:n_test]]
    train = [samples[i] for i in permutation[n_test:n_test + n_train]]
    return train, test
