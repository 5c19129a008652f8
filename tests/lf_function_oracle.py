"""Format function-call contents and tool descriptions with every LLaMA-Factory template's formatters.

Executed only with a Python that has the real `llamafactory` (see tests/test_samples_sharegpt.py).
stdin: {"function": [content, ...], "tools": [tools text, ...]}
stdout: {"function": {template: [null or "ExceptionName", ...]}, "tools": {template: [...]}}, in input order.
"""

import json
import logging
import sys


def main():
    logging.disable(logging.CRITICAL)
    from llamafactory.data.template import TEMPLATES

    cases = json.load(sys.stdin)
    out = {"function": {}, "tools": {}}
    for name, template in TEMPLATES.items():
        for kind, formatter, extra in (
                ("function", template.format_function, {"thought_words": template.thought_words,
                                                        "tool_call_words": template.tool_call_words}),
                ("tools", template.format_tools, {})):
            row = []
            for content in cases[kind]:
                try:
                    formatter.apply(content=content, **extra)
                    row.append(None)
                except Exception as err:  # noqa: BLE001 - the oracle reports whatever LLaMA-Factory raises
                    row.append(type(err).__name__)
            out[kind][name] = row
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
