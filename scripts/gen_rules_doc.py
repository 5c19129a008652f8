#!/usr/bin/env python3
"""Regenerate docs/rules.md from the rule registry (the same text as `lfgate rules --format markdown`).

Run it after adding or changing a rule: tests/test_rules_doc.py fails while the file is out of date.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfgate.registry import all_rules  # noqa: E402
from lfgate.ruledoc import document  # noqa: E402

TARGET = ROOT / "docs" / "rules.md"


def main() -> int:
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(document(all_rules().values()), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
