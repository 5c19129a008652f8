#!/usr/bin/env python3
"""Regenerate lfgate/schemas/rule_index.json from the rule registry: each code's name, severity, title and the
module that declares it (registry.py reads it to list and validate codes without importing every rule family).

Run it after adding, moving or changing a rule: tests/test_rule_index.py fails while the file is out of date.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfgate.registry import INDEX_PATH, all_rules, index_text  # noqa: E402


def main() -> int:
    target = pathlib.Path(INDEX_PATH)
    target.write_text(index_text(all_rules()), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
