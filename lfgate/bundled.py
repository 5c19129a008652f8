"""Where the files shipped beside the code live: the example project and the docs.

A wheel carries them in ``lfgate/bundled/`` (setup.py copies them there); a checkout or an editable install
reads them from the repository root.
"""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def path(*parts: str) -> str:
    """The bundled file or folder ``parts`` (e.g. ``path("examples", "quickstart")``)."""
    inside = os.path.join(_PACKAGE, "bundled", *parts)
    if os.path.exists(inside):
        return inside
    return os.path.join(os.path.dirname(_PACKAGE), *parts)
