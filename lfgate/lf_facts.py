"""Small facts about how LLaMA-Factory (and the libraries under it) read things, each coded once.

Rules, the runner and the commands import these instead of keeping copies, so what users see agrees everywhere.
"""

from __future__ import annotations

import difflib
import os
from typing import Any, Iterable, List, Mapping, Optional

# extras/misc.py is_env_enabled: os.getenv(name, "0").lower() in ["true", "y", "1"]
_ENV_TRUE = ("true", "y", "1")
# huggingface_hub's constants.ENV_VARS_TRUE_VALUES (its _is_true upper-cases): another library, another reading
_HF_TRUE = ("1", "ON", "YES", "TRUE")
DID_YOU_MEAN_CUTOFF = 0.7  # difflib ratio: close enough for a typo (`learning_rat`), not for another word


def env_enabled(name: str, env: Optional[Mapping[str, str]] = None) -> bool:
    """Whether LLaMA-Factory treats the environment variable as on (USE_V1, FORCE_TORCHRUN, USE_MODELSCOPE_HUB...)."""
    return str((os.environ if env is None else env).get(name, "0")).lower() in _ENV_TRUE


def hf_offline(env: Optional[Mapping[str, str]] = None) -> bool:
    """Whether huggingface_hub (and transformers, which asks it) is offline: constants.HF_HUB_OFFLINE is
    ``_is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)``, so a set HF_HUB_OFFLINE (even `0`) hides TRANSFORMERS_OFFLINE
    and `y` is not true."""
    env = os.environ if env is None else env
    value = env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE")
    return value is not None and str(value).upper() in _HF_TRUE


def split_names(value: Any) -> List[str]:
    """A comma-separated list as LLaMA-Factory's hparams split it (``dataset: a, b``), or a YAML list; blanks
    dropped."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return []  # a number or a mapping names nothing (the type rules report it)


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed value: null, boolean, integer, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string" if isinstance(value, str) else type(value).__name__


def a_json_type(value: Any) -> str:
    """``json_type`` with its article, for messages: "an array", "a string", "null"."""
    name = json_type(value)
    return name if name == "null" else ("an " if name[0] in "aeiou" else "a ") + name


def close_matches(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = DID_YOU_MEAN_CUTOFF) -> List[str]:
    """The candidates close enough to be what a typo meant, closest first. A caller that acts on the match (repairs
    a value, reads it another way) rather than suggesting it may pass another ``cutoff``, and says why there."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=cutoff)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3, otherwise: str = "",
                 cutoff: float = DID_YOU_MEAN_CUTOFF) -> str:
    """The one wording of a suggestion: " Did you mean `a`, `b`?" for the closest candidates, else ``otherwise``.
    Appended to a message whose sentence has ended."""
    matches = close_matches(word, candidates, n, cutoff)
    return f" Did you mean {', '.join(f'`{m}`' for m in matches)}?" if matches else otherwise


def looks_like_local_path(name: str) -> bool:
    """Whether ``model_name_or_path`` (or an adapter path) is meant as a local path, not a hub id: a hub id is
    `name` or `org/name`; a leading `/`, `./`, `../`, `~`, a backslash, or more than one `/` is a path."""
    return (name.startswith(("/", "./", "../", "~", ".\\")) or os.path.isabs(name) or name.count("/") > 1
            or "\\" in name or name in (".", ".."))
