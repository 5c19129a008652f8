"""Templates, label masking and cutoff_len truncation against hand-written expectations.

A character tokenizer (one id per character, special tokens as single ids) keeps the expected values readable.
"""

import pytest

from lfgate.runner.templates import EOS, fix_tokenizer, get_template, render
from lfgate.runner.tokenize import IGNORE_INDEX, DataOptions, encode_sample
from lfgate.truncation import infer_seqlen

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


class CharTokenizer:
    """Characters are ids 1000+ord(c); special tokens are ids 0, 1, 2, ... in SPECIAL order."""

    def __init__(self, eos="<|endoftext|>", bos=None):
        self.special = list(SPECIAL)
        self.eos_token, self.bos_token, self.pad_token = eos, bos, eos

    @property
    def eos_token_id(self):
        return self.special.index(self.eos_token) if self.eos_token else None

    @property
    def bos_token_id(self):
        return self.special.index(self.bos_token) if self.bos_token else None

    @property
    def pad_token_id(self):
        return self.special.index(self.pad_token) if self.pad_token else None

    def add_special_tokens(self, mapping, replace_additional_special_tokens=True):
        added = 0
        for key, value in mapping.items():
            for token in value if isinstance(value, list) else [value]:
                if token not in self.special:
                    self.special.append(token)
                    added += 1
            if key == "eos_token":
                self.eos_token = value
        return added

    def encode(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            for token in sorted(self.special, key=len, reverse=True):
                if text.startswith(token, i):
                    ids.append(self.special.index(token))
                    i += len(token)
                    break
            else:
                ids.append(1000 + ord(text[i]))
                i += 1
        return ids

    def decode(self, ids):
        return "".join(self.special[i] if i < 1000 else chr(i - 1000) for i in ids)


def text_of(elements, tok):
    return "".join(e if isinstance(e, str) else (tok.eos_token if e == EOS else tok.bos_token or "") for e in elements)


def test_qwen_renders_default_system_and_turns():
    tok = CharTokenizer()
    template = get_template("qwen")
    fix_tokenizer(tok, template)
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    rendered = [text_of(m, tok) for m in render(template, messages, None, None)]
    assert rendered == [
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "yo<|im_end|>\n",
    ]
    assert tok.eos_token == "<|im_end|>"  # replace_eos


def test_default_template_uses_eos_slots_and_system_override():
    tok = CharTokenizer()
    template = get_template("default", default_system="Be nice.")
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    rendered = [text_of(m, tok) for m in render(template, messages, None, None)]
    assert rendered == ["System: Be nice.<|endoftext|>\nHuman: a<|endoftext|>\nAssistant:", "b<|endoftext|>\n"]


def test_empty_template_has_no_system_slot_and_no_eos():
    tok = CharTokenizer()
    template = get_template("empty")
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert [text_of(m, tok) for m in render(template, messages, "sys", None)] == ["sysa", "b"]


def test_qwen3_adds_empty_thought_to_the_answer_when_thinking():
    tok = CharTokenizer()
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    for thinking, expect_prompt_end, expect_answer in (
        (True, "<|im_start|>assistant\n", "<think>\n\n</think>\n\na<|im_end|>\n"),
        (False, "<|im_start|>assistant\n<think>\n\n</think>\n\n", "a<|im_end|>\n"),
    ):
        template = get_template("qwen3", enable_thinking=thinking)
        fix_tokenizer(tok, template)
        ids, labels = encode_sample(tok, template, messages[:1], messages[1:], None, None, DataOptions())
        text = tok.decode(ids)
        answer = tok.decode([i for i in labels if i != IGNORE_INDEX])
        assert answer == expect_answer
        assert text.endswith(expect_prompt_end + expect_answer)


def _conversation():
    return [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]


def test_labels_mask_every_prompt_and_train_every_answer():
    tok = CharTokenizer()
    template = get_template("empty")
    conv = _conversation()
    ids, labels = encode_sample(tok, template, conv[:3], conv[3:], None, None, DataOptions())
    assert tok.decode(ids) == "u1a1u2a2"
    assert labels == [IGNORE_INDEX] * 2 + tok.encode("a1") + [IGNORE_INDEX] * 2 + tok.encode("a2")


def test_train_on_prompt_keeps_prompt_labels():
    tok = CharTokenizer()
    conv = _conversation()
    ids, labels = encode_sample(tok, get_template("empty"), conv[:3], conv[3:], None, None,
                                DataOptions(train_on_prompt=True))
    assert labels == ids


def test_mask_history_trains_the_last_answer_only():
    tok = CharTokenizer()
    conv = _conversation()
    ids, labels = encode_sample(tok, get_template("empty"), conv[:3], conv[3:], None, None,
                                DataOptions(mask_history=True))
    assert tok.decode(ids) == "u1a1u2a2"
    assert labels == [IGNORE_INDEX] * 6 + tok.encode("a2")


def test_cutoff_len_drops_late_turns_and_shares_the_budget():
    tok = CharTokenizer()
    conv = [{"role": "user", "content": "x" * 10}, {"role": "assistant", "content": "y" * 10},
            {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    ids, labels = encode_sample(tok, get_template("empty"), conv[:3], conv[3:], None, None, DataOptions(cutoff_len=8))
    # first pair 10+10 > 8: each side gets half (source 4, target 4); nothing is left for the second pair
    assert tok.decode(ids) == "xxxxyyyy"
    assert labels == [IGNORE_INDEX] * 4 + tok.encode("yyyy")


def test_cutoff_len_with_mask_history_keeps_the_last_turn_first():
    tok = CharTokenizer()
    conv = [{"role": "user", "content": "x" * 10}, {"role": "assistant", "content": "y" * 10},
            {"role": "user", "content": "uu"}, {"role": "assistant", "content": "aa"}]
    ids, labels = encode_sample(tok, get_template("empty"), conv[:3], conv[3:], None, None,
                                DataOptions(cutoff_len=8, mask_history=True))
    # last pair (2+2) first, then 4 left for the first pair: 2 + 2, and its answer is masked
    assert tok.decode(ids) == "xxyyuuaa"
    assert labels == [IGNORE_INDEX] * 6 + tok.encode("aa")


@pytest.mark.parametrize("source,target,cutoff,expected", [
    (10, 3, 100, (10, 3)),   # fits
    (100, 3, 10, (7, 3)),    # short target: source truncated
    (3, 100, 10, (3, 7)),    # short source: target truncated
    (60, 40, 10, (6, 4)),    # both long: target gets int(10 * 40 / 100) = 4, the source the rest
])
def test_infer_seqlen(source, target, cutoff, expected):
    assert infer_seqlen(source, target, cutoff) == expected


def test_function_call_and_tools_in_qwen_format():
    tok = CharTokenizer()
    template = get_template("qwen", default_system="")
    tools = '[{"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}]'
    messages = [{"role": "user", "content": "q"},
                {"role": "function", "content": '{"name": "f", "arguments": {"x": 1}}'}]
    rendered = [text_of(m, tok) for m in render(template, messages, None, tools)]
    assert rendered[0].startswith("<|im_start|>system\n\n\n# Tools\n")
    assert '\n{"type": "function", "function": {"name": "f"' in rendered[0]
    assert rendered[1] == '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call><|im_end|>\n'


def test_progress_prints_plain_lines_with_loss_rate_and_eta():
    import io
    from types import SimpleNamespace

    pytest.importorskip("transformers")
    from lfgate.runner.progress import Progress

    out = io.StringIO()
    progress = Progress(batch_samples=8, stream=out, live=False)
    args = SimpleNamespace(process_index=0)
    state = SimpleNamespace(global_step=0, max_steps=10)
    progress.on_train_begin(args, state, None)
    state.global_step = 5
    progress.on_log(args, state, None, logs={"loss": 1.2345, "learning_rate": 1e-4, "epoch": 0.5})
    line = out.getvalue().strip()
    assert line.startswith("step 5/10  loss 1.234") and "samples/s" in line and "eta " in line
    progress.on_log(SimpleNamespace(process_index=1), state, None, logs={"loss": 1.0})  # other ranks are silent
    assert out.getvalue().count("\n") == 1


def test_progress_bar_on_a_terminal_shows_loss_rate_and_eta():
    import io
    from types import SimpleNamespace

    pytest.importorskip("transformers")
    from lfgate.runner.progress import Progress

    out = io.StringIO()
    progress = Progress(batch_samples=8, stream=out, live=True)
    args = SimpleNamespace(process_index=0)
    state = SimpleNamespace(global_step=0, max_steps=4)
    progress.on_train_begin(args, state, None)
    for step in range(1, 5):
        state.global_step = step
        progress.on_log(args, state, None, logs={"loss": 2.0 / step})
        progress.on_step_end(args, state, None)
    progress.on_train_end(args, state, None)
    text = out.getvalue()
    assert "4/4" in text and "loss 0.5000" in text and "samples/s" in text and "ETA" in text
