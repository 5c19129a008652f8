"""readers/launch_commands.py: the launches a project's text describes, with the cd steps that lead to them."""

import json

import pytest

from lfgate.readers.launch_commands import HERE, ROOT, SCRIPT, find_launches, kind_of, may_launch


def launches(text, kind="shell"):
    return [(c.config, c.steps) for c in find_launches(text, kind)]


@pytest.mark.parametrize("text, expected", [
    ("cd LLaMA-Factory && llamafactory-cli train ../configs/x.yaml\n",
     [("../configs/x.yaml", (("cd", "LLaMA-Factory"),))]),
    ("cd LLaMA-Factory; lmf train examples/a.yml\n", [("examples/a.yml", (("cd", "LLaMA-Factory"),))]),
    ("cd LLaMA-Factory\nFORCE_TORCHRUN=1 CUDA_VISIBLE_DEVICES=0,1 llamafactory-cli train examples/b.yaml\n",
     [("examples/b.yaml", (("cd", "LLaMA-Factory"),))]),
    ("lfgate train --backend llamafactory --dry-run configs/c.yaml learning_rate=1e-5\n", [("configs/c.yaml", ())]),
    ("torchrun --nproc_per_node 8 --master_port 29500 src/train.py examples/d.yaml\n", [("examples/d.yaml", ())]),
    ("deepspeed --num_gpus 8 LLaMA-Factory/src/train.py \\\n  configs/e.yaml \\\n  --deepspeed ds.json\n",
     [("configs/e.yaml", ())]),
    ("python -m llamafactory.cli train f.json\n", [("f.json", ())]),
    ("export NPROC_PER_NODE=2 && llamafactory-cli train g.yaml 2>&1 | tee log.txt\n", [("g.yaml", ())]),
])
def test_each_launcher_and_prefix(text, expected):
    assert launches(text) == expected


def test_variables_loops_and_the_scripts_own_folder():
    text = ('SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)\ncd "$SCRIPT_DIR/../LLaMA-Factory"\n'
            'CFG=examples/train_lora/q.yaml\ntorchrun --nproc_per_node 8 src/train.py $CFG\n'
            'for c in configs/a.yaml configs/b.yaml; do\n  llamafactory-cli train "$c"\ndone\n'
            'cd $(git rev-parse --show-toplevel)\nllamafactory-cli train "configs/${NAME:-base}_sft.yaml"\n'
            'llamafactory-cli train configs/${UNSET}.yaml\n')
    steps = (("cd", SCRIPT + "/../LLaMA-Factory"),)
    assert launches(text) == [("examples/train_lora/q.yaml", steps), ("configs/a.yaml", steps),
                              ("configs/b.yaml", steps), ("configs/base_sft.yaml", steps + (("cd", ROOT),)),
                              ("configs/*.yaml", steps + (("cd", ROOT),))]


def test_a_subshell_cd_stays_in_its_line_and_pushd_pops():
    text = "(cd sub && llamafactory-cli train a.yaml)\nllamafactory-cli train b.yaml\npushd LF\n" \
           "llamafactory-cli train c.yaml\npopd\nllamafactory-cli train d.yaml\ncd \"$(pwd)/x\"\n"
    assert launches(text) == [("a.yaml", (("cd", "sub"),)), ("b.yaml", ()), ("c.yaml", (("pushd", "LF"),)),
                              ("d.yaml", (("pushd", "LF"), ("popd", "")))]
    assert find_launches("cd $(pwd)/x && llamafactory-cli train e.yaml\n", "shell")[0].steps == \
        (("cd", HERE + "/x"),)


def test_comments_echo_and_cli_style_arguments():
    text = ("# llamafactory-cli train commented.yaml\n"
            "echo \"Next: cd LLaMA-Factory && llamafactory-cli train examples/f.yaml\"\n"
            "llamafactory-cli train --stage sft --model_name_or_path m  # no config file\n")
    assert launches(text) == [("examples/f.yaml", (("cd", "LLaMA-Factory"),))]


def test_markdown_blocks_are_one_session_and_inline_code_counts():
    text = ("# Setup\n```bash\ngit clone https://github.com/hiyouga/LLaMA-Factory.git\ncd LLaMA-Factory\n"
            "pip install -e .\n```\nThen:\n```\n$ llamafactory-cli train ../configs/x.yaml\n```\n"
            "Or `cd train && lfgate train y.yaml` by hand.\n```yaml\nllamafactory-cli train not-shell.yaml\n```\n")
    assert launches(text, "markdown") == [("y.yaml", (("cd", "train"),)),
                                          ("../configs/x.yaml", (("cd", "LLaMA-Factory"),))] or \
        launches(text, "markdown") == [("../configs/x.yaml", (("cd", "LLaMA-Factory"),)),
                                       ("y.yaml", (("cd", "train"),))]


def test_makefile_python_dockerfile_and_notebook():
    make = "CFG = configs/m.yaml\ntrain:\n\tcd LLaMA-Factory && llamafactory-cli train ../$(CFG)\n" \
           "other:\n\tllamafactory-cli train n.yaml\n"
    assert launches(make, "make") == [("../configs/m.yaml", (("cd", "LLaMA-Factory"),)), ("n.yaml", ())]
    python = ('subprocess.run(["bash", "-c", "cd LLaMA-Factory && llamafactory-cli train examples/c.yaml"])\n'
              'cfg = "configs/p.yaml"\nsubprocess.run(["llamafactory-cli", "train", cfg], cwd="LLaMA-Factory")\n'
              'os.system(f"llamafactory-cli train {cfg}")\n')
    assert launches(python, "python") == [("examples/c.yaml", (("cd", "LLaMA-Factory"),)),
                                          ("configs/p.yaml", (("cd", "LLaMA-Factory"),)), ("configs/p.yaml", ())]
    docker = 'WORKDIR /app/LLaMA-Factory\nCMD ["llamafactory-cli", "train", "examples/d.yaml"]\n'
    assert launches(docker, "docker") == [("examples/d.yaml", (("cd", "/app/LLaMA-Factory"),))]
    notebook = json.dumps({"cells": [
        {"cell_type": "code", "source": ["%cd /content/LLaMA-Factory\n", "!llamafactory-cli train examples/n.yaml"]},
        {"cell_type": "markdown", "source": "```\nllamafactory-cli train m.yaml\n```"}]})
    found = find_launches(notebook, "notebook")
    assert [(c.line, c.config) for c in found] == [(1, "examples/n.yaml"), (2, "m.yaml")]
    assert find_launches("{not json", "notebook") == []


def test_kinds_and_the_cheap_prefilter():
    assert [kind_of(n) for n in ("run.sh", "Makefile", "Dockerfile", "README.md", "x.ipynb", "x.py", "x.yaml")] == \
        ["shell", "make", "docker", "markdown", "notebook", "python", None]
    assert may_launch(b"llamafactory-cli train x.yaml") and not may_launch(b"python train_model.py")


def test_hostile_text_is_read_in_bounded_time():
    import time

    started = time.monotonic()
    for text in ("$(" * 200_000 + " llamafactory-cli train x.yaml\n", "a \\\n" * 100_000 + "lmf train y.yaml\n",
                 "${A}" * 50_000 + "\n", "for a in " + "x " * 100_000 + "; do lmf train $a; done\n"):
        find_launches(text, "shell")
        find_launches(text, "markdown")
    assert time.monotonic() - started < 10
