"""The chat template the runner's saved tokenizer carries renders what the runner trained on (issue 25 §4), and
LLaMA-Factory's own jinja for the same template renders the same text."""

import json
import os
import subprocess

import pytest

from conftest import ROOT, oracle_missing
from lfgate.runner.config import RunConfig
from lfgate.runner.recipe import build_template
from lfgate.runner.templates import BOS, EOS, TEMPLATES, encode_multiturn, render
from runner_helpers import tiny_model  # noqa: F401  (fixture)

pytest.importorskip("transformers")

THOUGHT = "<think>\nsome reasoning\n</think>\n\n"


def conversation(template_name, system):
    """Two turns; a reasoning template's answers carry their thought (else the runner adds an empty one that no
    jinja of LLaMA-Factory's renders: see templates.chat_template_jinja)."""
    thought = THOUGHT if TEMPLATES[template_name].reasoning else ""
    messages = [{"role": "user", "content": "What is 2 plus 3?"},
                {"role": "assistant", "content": thought + "2 plus 3 is 5."},
                {"role": "user", "content": "And 'one' plus \"one\"?"},
                {"role": "assistant", "content": thought + "one plus one is 2."}]
    return ([{"role": "system", "content": system}] if system else []) + messages


def _tokenizer(model_dir, template_name, tokenizer=None, **values):
    """The tokenizer as the runner fixes it (recipe.build_template), and the template."""
    from transformers import AutoTokenizer

    tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_dir))
    template, _ = build_template(RunConfig("t.yaml", {"template": template_name, **values}), tokenizer)
    return tokenizer, template


def _as_text(tokenizer, elements):
    text = ""
    for elem in elements:
        if isinstance(elem, str):
            text += elem
        elif elem == BOS and tokenizer.bos_token_id is not None:
            text += tokenizer.bos_token
        elif elem == EOS and tokenizer.eos_token_id is not None:
            text += tokenizer.eos_token
    return text


@pytest.mark.parametrize("system", ["You are terse.", None])
@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_the_saved_tokenizer_renders_what_the_runner_trained_on(tiny_model, tmp_path, template_name, system):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    if BOS in TEMPLATES[template_name].prefix:  # llama3: a tokenizer with a bos token, as Llama 3's has
        tokenizer.add_special_tokens({"bos_token": "<|begin_of_text|>"})
    tokenizer, template = _tokenizer(tiny_model, template_name, tokenizer)
    tokenizer.save_pretrained(str(tmp_path))
    saved = AutoTokenizer.from_pretrained(str(tmp_path))
    assert saved.chat_template, "the saved tokenizer carries no chat template"
    messages = conversation(template_name, system)
    turns = [m for m in messages if m["role"] != "system"]

    rendered = saved.apply_chat_template(messages, tokenize=False)
    trained = "".join(_as_text(tokenizer, e) for e in render(template, turns, system, None))
    assert rendered == trained
    assert rendered.startswith("<|begin_of_text|>") == (template_name == "llama3")

    # the prompt of the last turn, byte for byte what the runner encoded (history, system and default system)
    pairs = encode_multiturn(tokenizer, template, turns, system)
    prompt_ids = [t for prompt, response in pairs[:-1] for t in prompt + response] + pairs[-1][0]
    prompt = saved.apply_chat_template(messages[:-1], tokenize=False)
    assert prompt == tokenizer.decode(prompt_ids, skip_special_tokens=False)
    assert trained.startswith(prompt) and len(prompt) < len(trained)


def test_a_tokenizer_with_its_own_template_keeps_it_unless_llamafactory_replaces_it(tiny_model):
    from transformers import AutoTokenizer

    for name, replaced in (("qwen", False), ("chatml", True), ("default", True), ("empty", False)):
        tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
        tokenizer.chat_template = "{{ 'own' }}"
        _tokenizer(tiny_model, name, tokenizer)
        assert (tokenizer.chat_template != "{{ 'own' }}") == replaced, name


def test_the_default_system_message_is_rendered_and_a_given_one_replaces_it(tiny_model):
    tokenizer, _ = _tokenizer(tiny_model, "qwen")
    user = [{"role": "user", "content": "hi"}]
    assert tokenizer.apply_chat_template(user, tokenize=False).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n")
    custom, _ = _tokenizer(tiny_model, "qwen", default_system="Answer with a backslash \\ and a quote '.")
    assert custom.apply_chat_template(user, tokenize=False).startswith(
        "<|im_start|>system\nAnswer with a backslash \\ and a quote '.<|im_end|>\n")


# -- against LLaMA-Factory's own jinja -----------------------------------------------------------------------------
_LF_RENDER = r"""
import copy, json, sys
import llamafactory.data.template as lf_template
from llamafactory.data.template import get_template_and_fix_tokenizer
from llamafactory.hparams import DataArguments
from transformers import AutoTokenizer

model_dir, cases = sys.argv[1], json.loads(sys.stdin.read())
out = []
for name, messages in cases:
    original = lf_template.TEMPLATES[name]
    lf_template.TEMPLATES[name] = copy.deepcopy(original)  # get_template_and_fix_tokenizer changes it in place
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        get_template_and_fix_tokenizer(tokenizer, DataArguments(template=name))
    finally:
        lf_template.TEMPLATES[name] = original
    out.append(tokenizer.apply_chat_template(messages, tokenize=False))
print(json.dumps(out))
"""


@pytest.mark.llamafactory
def test_each_template_renders_as_llamafactorys_own_jinja(tiny_model):
    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    cases = [(name, messages) for name in sorted(TEMPLATES)
             for messages in (conversation(name, "You are terse."), conversation(name, None),
                              conversation(name, None)[:-1])]
    done = subprocess.run([python, "-c", _LF_RENDER, str(tiny_model)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0 and "No module named" in done.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    for (name, messages), lf_text in zip(cases, theirs):
        tokenizer, _ = _tokenizer(tiny_model, name)
        assert tokenizer.apply_chat_template(messages, tokenize=False) == lf_text, (name, messages)

