"""The fast paths' gate on cutoff_len (validator/fastpath.py, typed.py): they credit a record as clean only when it
cannot exceed cutoff_len by the count lfgate reports (lfgate/tokens): ``fast_budget`` gives them a Budget whose
``within`` is sound for that count. Every other record goes the full way, where lfgate/tokens/sample.py counts it.
"""

from __future__ import annotations

from typing import Optional

# Tokens per character at most, for a tools text the gate does not count: a byte-level BPE token is at least one
# UTF-8 byte (at most 4 per character); SentencePiece falls back to bytes and may add one "▁" per text. The
# template's own tool prompt is not in the byte bound, so tools are charged by characters at this rate.
MAX_TOKENS_PER_CHAR = 4
# What the calibrated estimate's upper band gives a byte at most (a digit or punctuation mark alone: 1.03 tokens x
# a make-up's scale, at most 1.07, x 1 + the widest band, at most 1.6): a system text it does not count.
ESTIMATE_PER_BYTE = 2

# Counting a record here pays twice when it is over after all (the full way counts it again, message by message):
# once this many records past the byte bound were counted and fewer than a quarter of them were proved within,
# the gate stops counting and sends such records the full way at once (refusing is always sound).
GIVE_UP_AFTER = 64


def extra_tokens(text: str, tools: bool) -> int:
    """At most how many tokens a record's own system text (its UTF-8 bytes) or tools text (MAX_TOKENS_PER_CHAR
    per character) adds, as the fast paths pass it to ``Budget.within`` with the message texts."""
    if tools:
        return MAX_TOKENS_PER_CHAR * len(text)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Budget:
    """The fast paths' test of a record's texts (joined with NULs) against cutoff_len, sound for the count that
    lfgate/tokens reports. First by bytes alone, with no tokenizer loaded: message text and the template's own
    text (its markers, its default system prompt) are at most one token per UTF-8 byte. Only a record those bytes
    could put over cutoff_len is counted (exactly, or by the estimate's upper band); the rest go the full way."""

    def __init__(self, plan, stage: str):
        self.plan = plan
        self.stage = stage
        self.cutoff = plan.cutoff_len
        self._bytes: dict = {}
        self._tokens: dict = {}
        self._counter = None
        self._slack = 1.0
        self._counted = self._proved = 0  # records past the byte bound counted here, and those proved within

    def _empty(self, n: int, system=None):
        from lfgate.validator.converter import Aligned

        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": ""} for i in range(n)]
        return Aligned(messages[:-1], messages[-1:], system, None, [], [], [], False, [], [])

    def template_bytes(self, n: int) -> int:
        """At most how many tokens the template adds to n messages, from its text's bytes (one per bos/eos slot),
        plus two per message for the merges at their edges."""
        if n not in self._bytes:
            from lfgate.tokens.sample import template_of

            template = template_of(self.plan)
            total = 0
            if template is not None and self.stage != "pt":
                from lfgate.runner.templates import render

                aligned = self._empty(n)
                for elements in render(template, aligned.prompt + aligned.response, None, None):
                    total += sum(len(e.encode("utf-8")) if isinstance(e, str) else 1 for e in elements)
                total += 1 + len(template.thought_words[0] + template.thought_words[1]) if template.reasoning else 1
            self._bytes[n] = total + 2 * n + 2
        return self._bytes[n]

    def template_tokens(self, n: int, own_system: bool) -> int:
        """The same bound, counted: the template's tokens for n empty messages, plus two per message. A record
        with its own system text (counted apart, in ``extra``) replaces the template's default one."""
        key = (n, own_system)
        if key not in self._tokens:
            from lfgate.tokens.sample import measure

            counter = self.counter()
            length = measure(self._empty(n, "a" if own_system else None), self.stage, self.plan, counter)
            counted = length.total - (counter.count("a") if own_system else 0) \
                if length is not None and length.template else 0
            self._tokens[key] = int(max(counted, 0) * self._slack + 0.999) + 2 * n + 2
        return self._tokens[key]

    def counter(self):
        if self._counter is None:
            from lfgate.tokens import estimate
            from lfgate.tokens.counters import counter

            self._counter = counter(self.plan.spec)
            if not self._counter.exact:
                self._slack = 1 + max(estimate.band(self._counter.family, k) for k in estimate.KINDS)
        return self._counter

    def bytes_within(self, joined: str, n: int, extra: int) -> bool:
        """Within cutoff_len by the bytes alone: no vocabulary is loaded for it. ``extra``: ``extra_tokens`` of
        the record's system and tools texts."""
        text_bytes = len(joined) if joined.isascii() else len(joined.encode("utf-8", "surrogatepass"))
        template = self._bytes.get(n)
        if template is None:
            template = self.template_bytes(n)
        return text_bytes + extra + template <= self.cutoff

    def within(self, joined: str, n: int, extra: int) -> bool:
        if self.bytes_within(joined, n, extra):
            return True
        if self._counted >= GIVE_UP_AFTER and 4 * self._proved < self._counted:
            return False  # most records past the bytes are over: counting them here would only count them twice
        counter = self.counter()
        # the system text is not counted here: at its bytes for a tokenizer, at the estimate's most for an estimate
        room = self.cutoff - extra * (1 if counter.exact else ESTIMATE_PER_BYTE) - self.template_tokens(n, extra > 0)
        upper = counter.bound(joined) if counter.bound is not None else None
        if upper is not None and upper * self._slack <= room:  # within by a bound that needs no count
            self._counted += 1
            self._proved += 1
            return True
        proved = counter.count(joined) * self._slack <= room
        self._counted += 1
        self._proved += proved
        return proved


def fast_budget(checker) -> Optional[Budget]:
    """The Budget the fast paths test a record against, or None when the checker counts no truncation."""
    plan = getattr(checker, "count_plan", None)
    if plan is None or not plan.cutoff_len:
        return None
    return Budget(plan, checker.stage)
