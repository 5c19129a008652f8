"""How lfgate counts a model's tokens, in order of trust: the model's own tokenizer.json found on this machine
(hub_cache: --tokenizer, the model folder, the Hugging Face / ModelScope / openMind caches), else the vocabulary
an installed package of the `tokens` extra ships for the family (quicktok-v1: Qwen2/2.5/3 and Llama 3, exact),
else the calibrated estimate (estimate.py) with its error band.

A Spec says which, in a few picklable fields: worker processes rebuild the Counter once each (``counter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from lfgate import hub_cache
from lfgate.tokens import estimate
from lfgate.tokens.families import FAMILIES, LLAMA3, OTHER, QWEN2, Family, family_of

FILE, BUNDLED, ESTIMATE = "file", "bundled", "estimate"
EXTRA = "lfgate[tokens]"
INSTALL = f"pip install '{EXTRA}'"
# family -> quicktok-v1's bundled encoding (byte-identical to the family's Hugging Face tokenizer; Llama 3's is
# Meta's rank file, which the Hugging Face merge list matches on all but ~2 tokens in a million)
QUICKTOK = {QWEN2: "qwen3", LLAMA3: "llama3"}
# Qwen3 added these to Qwen2.5's vocabulary as special tokens: a Qwen2/2.5 tokenizer spells them out
_QWEN3_ONLY = ("<think>", "</think>", "<tool_response>", "</tool_response>")
SHORT, SHORT_CACHE = 256, 100_000  # estimates of texts this short are remembered, this many per process


@dataclass(frozen=True)
class Spec:
    kind: str  # FILE, BUNDLED or ESTIMATE
    family: str
    path: str = ""  # FILE: the tokenizer.json; BUNDLED: quicktok's encoding name
    origin: str = ""  # FILE: where it was found, in words
    qwen3: bool = True  # BUNDLED qwen2: Qwen3's special tokens are special (not for Qwen2/2.5 models)

    @property
    def exact(self) -> bool:
        return self.kind != ESTIMATE


class Counter:
    """count(text) and count_many(texts): tokens as the model's tokenizer gives them with add_special_tokens=False
    (special-token strings in the text are one token each, as transformers matches added tokens)."""

    def __init__(self, spec: Spec, count: Callable[[str], float], count_many=None,
                 bound: Optional[Callable[[str], Optional[float]]] = None):
        self.spec = spec
        self.family: Family = FAMILIES.get(spec.family, FAMILIES[OTHER])
        self._count = count
        self._many = count_many
        # text -> a number at least count(text), cheaper than counting, or None: the fast paths' gate tries it first
        self.bound = bound

    @property
    def exact(self) -> bool:
        return self.spec.exact

    def __reduce__(self):  # across processes: the spec, built again there
        return (counter, (self.spec,))

    def count(self, text: str) -> float:
        return self._count(text) if text else 0

    def count_many(self, texts: List[str]) -> List[float]:
        if self._many is not None and len(texts) > 1:
            return self._many(texts)
        return [self.count(t) for t in texts]

    def describe(self, kind: Optional[str] = None) -> str:
        return describe(self.spec, kind)


def describe(spec: Spec, kind: Optional[str] = None) -> str:
    """How the counts were made, for a message: `counted with the model's tokenizer.json from the ModelScope cache
    (~/.cache/modelscope)`; for an estimate, its band on the make-up of the samples near the cutoff."""
    family = FAMILIES.get(spec.family, FAMILIES[OTHER])
    if spec.kind == FILE:
        return f"counted with the model's tokenizer.json from {spec.origin}"
    if spec.kind == BUNDLED:
        return f"counted exactly with the {family.label} vocabulary of {EXTRA} (quicktok-v1)"
    kind = kind or estimate.ENGLISH
    return f"estimated for {family.label}, ±{estimate.band(family, kind):.0%} on {kind}; {install_hint(family)}"


def install_hint(family: Family) -> str:
    """What would make the count exact."""
    if family.name in QUICKTOK and not _has_quicktok():
        return f"`{INSTALL}` counts {family.label} tokens exactly"
    return "a tokenizer.json on this machine (--tokenizer, the model folder or a hub cache) counts exactly"


# -- choosing -------------------------------------------------------------------------------------------------------
def spec_for(model: Optional[str], *, template: Optional[str] = None, explicit: Optional[str] = None,
             where: Optional[dict] = None, env=None) -> Spec:
    """How to count for this model: its tokenizer.json here, else the extra's vocabulary, else the estimate."""
    where = dict(where or {})
    found = hub_cache.find_tokenizer(model, explicit=explicit, env=env, **where)
    config = _config_json(model, where, env)
    family = family_of(model if not explicit else explicit, config, template)
    if found is not None and _has_tokenizers():
        return Spec(FILE, family.name, found.path, found.where)
    encoding = QUICKTOK.get(family.name)
    if encoding and _has_quicktok():
        name = (model or "").lower()
        return Spec(BUNDLED, family.name, encoding, qwen3=family.name != QWEN2 or "qwen3" in name or "qwq" in name)
    return Spec(ESTIMATE, family.name)


def _config_json(model, where, env) -> Optional[dict]:
    found = hub_cache.find_config(model, env=env, **where)
    if found is None:
        return None
    from lfgate.readers import guarded

    return guarded.read_json_object(found.path, 1_000_000)  # regular files only, size-capped


def _has_tokenizers() -> bool:
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def _has_quicktok() -> bool:
    try:
        import quicktok  # noqa: F401
    except ImportError:
        return False
    return True


# -- building (once per process) ------------------------------------------------------------------------------------
_BUILT: Dict[Spec, Counter] = {}


def counter(spec: Spec) -> Counter:
    """The Counter for a Spec, built once per process (a tokenizer takes a second or two to load)."""
    built = _BUILT.get(spec)
    if built is None:
        built = _BUILT[spec] = _build(spec)
    return built


def preload(usage) -> None:
    """Build the usage's exact counter now, in a process about to fork its workers (they then share it: a
    vocabulary takes a second or two to load, once instead of once per worker)."""
    plan = getattr(usage, "counting", None)
    if plan is not None and plan.cutoff_len and plan.spec.exact:
        counter(plan.spec)


def _build(spec: Spec) -> Counter:
    if spec.kind == FILE:
        try:
            return _from_file(spec)
        except Exception:  # unreadable here after all: the estimate, said as such
            return counter(Spec(ESTIMATE, spec.family))
    if spec.kind == BUNDLED:
        return _from_quicktok(spec)
    family = FAMILIES.get(spec.family, FAMILIES[OTHER])
    seen: Dict[str, float] = {}  # short texts repeat (template slots, names, "yes"): each is estimated once

    def count(text: str) -> float:
        if len(text) > SHORT:
            return estimate.estimate(text, family)
        n = seen.get(text)
        if n is None:
            n = estimate.estimate(text, family)
            if len(seen) < SHORT_CACHE:
                seen[text] = n
        return n

    return Counter(spec, count, bound=lambda text: estimate.upper_bound(text, family))


def _encodable(text: str) -> str:
    """Lone surrogates (an escaped "\\ud800" in the data) as U+FFFD: the tokenizers refuse them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _from_file(spec: Spec) -> Counter:
    from tokenizers import Tokenizer

    from lfgate.readers import guarded

    # regular files only, size-capped, as the model-folder rules read it
    tokenizer = Tokenizer.from_str(guarded.read_text(spec.path, hub_cache.TOKENIZER_JSON_LIMIT))

    def count(text: str) -> int:
        return len(tokenizer.encode(_encodable(text), add_special_tokens=False).ids)

    def many(texts: List[str]) -> List[int]:  # encode_batch runs on every core
        return [len(e.ids) for e in tokenizer.encode_batch([_encodable(t) for t in texts], add_special_tokens=False)]

    return Counter(spec, count, many)


def _from_quicktok(spec: Spec) -> Counter:
    import re

    import quicktok

    encoding = quicktok.get_encoding(spec.path)
    allowed = set(encoding.special_tokens_set) - (set() if spec.qwen3 else set(_QWEN3_ONLY))
    # Hugging Face splits a text at its added tokens first, then pre-tokenizes each part: so do we, and count the
    # parts with quicktok's count (encode_ordinary's, building no list: 4-5x faster than encoding with specials)
    specials = re.compile("|".join(map(re.escape, sorted(allowed, key=len, reverse=True))))
    plain = encoding.count

    def count(text: str) -> int:
        text = _encodable(text)
        if "<" not in text:  # every special token of these vocabularies starts with "<"
            return plain(text)
        parts = specials.split(text)
        return len(parts) - 1 + sum(plain(part) for part in parts if part)

    def many(texts: List[str]) -> List[int]:
        return [count(t) for t in texts]

    return Counter(spec, count, many)
