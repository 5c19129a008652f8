"""Format function-call contents (stdin: a JSON list) with every LLaMA-Factory template's FunctionFormatter.

Executed only with a Python that has the real `llamafactory` (see tests/test_samples_sharegpt.py).
stdout: {template: [null or "ExceptionName", ...]} in the order of the contents.
"""

import json
import logging
import sys


def main():
    logging.disable(logging.CRITICAL)
    from llamafactory.data.template import TEMPLATES

    contents = json.load(sys.stdin)
    out = {}
    for name, template in TEMPLATES.items():
        row = []
        for content in contents:
            try:
                template.format_function.apply(content=content, thought_words=template.thought_words,
                                               tool_call_words=template.tool_call_words)
                row.append(None)
            except Exception as err:  # noqa: BLE001 - the oracle reports whatever LLaMA-Factory raises
                row.append(type(err).__name__)
        out[name] = row
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
