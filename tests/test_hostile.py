"""Hostile input (issue 5): each item gets a clear diagnostic, exit 1, bounded time and memory, no side effect,
never a traceback.

Every case runs `python -m lfgate check --format json` in a subprocess with an address-space limit and a
timeout; its peak memory is the PSS of the whole process tree (workers included) or the main process's own
high-water RSS (VmHWM), whichever is larger, both sampled every 10 ms. The project tree is snapshotted before and after: nothing may be
written or changed. Where LLaMA-Factory itself accepts an input (e.g. `../` in file_name), the defect that makes
the case fail is stated in the test and the test checks that lfgate names the hostile part.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import pytest

from conftest import write_project

ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "dataset: d\ndataset_dir: data\ntemplate: qwen\noutput_dir: saves/d\n")
REGISTRY = '{"d": {"file_name": "d.json"}}\n'
MB = 1 << 20


def snapshot(root):
    """{relative path: (kind, size, mtime, digest)} of everything under root, links not followed."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path) and st.st_size < 64 * MB:
                with open(path, "rb") as f:
                    digest = hashlib.sha1(f.read()).hexdigest()
            state[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return state


def tree_memory_mb(pid):
    """Memory of pid and all its descendants in MB: the sum of their PSS (shared pages counted once, split
    between the processes that share them, so forked workers do not count the parent's pages again)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def high_water_mb(pid):
    """The main process's own peak RSS so far (VmHWM: it starts afresh at exec, unlike wait4's ru_maxrss)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0) / 1024
    except (OSError, ValueError):
        return 0.0


class Run:
    def __init__(self, code, report, stderr, seconds, peak_mb):
        self.code, self.report, self.stderr, self.seconds, self.peak_mb = code, report, stderr, seconds, peak_mb

    def at(self, file, severity="error"):
        return [d for d in self.report["diagnostics"] if d["file"] == file and d["severity"] == severity]

    def codes(self):
        return {d["code"] for d in self.report["diagnostics"]}


def lfgate(root, *args, timeout=60, max_mb=400, address_space_mb=3072):
    """Run `lfgate check --format json ARGS` in root; assert no traceback, no side effect, bounded time/memory."""
    before = snapshot(root)

    def limits():
        limit = address_space_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("LFGATE_DEBUG", None)
    out_path, err_path = root.parent / f"{root.name}.out", root.parent / f"{root.name}.err"
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "lfgate", "check", "--format", "json", *args], cwd=root,
                                stdout=out, stderr=err, preexec_fn=limits, env=env)
        deadline, tree_peak = start + timeout, 0.0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            tree_peak = max(tree_peak, tree_memory_mb(proc.pid), high_water_mb(proc.pid))
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                pytest.fail(f"lfgate check ran past {timeout}s")
            time.sleep(0.01)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    stdout = out_path.read_text(errors="replace")
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert proc.returncode in (0, 1), f"exit {proc.returncode}: {stderr[-2000:]}"
    # not wait4's ru_maxrss: it counts the forked pytest process's pages from before exec
    peak_mb = tree_peak
    assert peak_mb < max_mb, f"peak memory {peak_mb:.0f} MB"
    assert snapshot(root) == before, "lfgate changed the project"
    run = Run(proc.returncode, json.loads(stdout), stderr, seconds, peak_mb)
    if os.environ.get("HOSTILE_LOG"):
        with open(os.environ["HOSTILE_LOG"], "a") as log:
            log.write(json.dumps([os.environ.get("PYTEST_CURRENT_TEST"), round(seconds, 2), round(peak_mb),
                                  sorted((d["code"], d["file"], d["sample"], d["line"]) for d in
                                         run.report["diagnostics"] if d["severity"] == "error")[:6]]) + "\n")
    return run


@pytest.fixture
def proj(tmp_path):
    root = tmp_path / "p"
    root.mkdir()

    def make(files):
        base = {"data/dataset_info.json": REGISTRY, "data/d.json": ALPACA, "train.yaml": CONFIG}
        base.update(files)
        write_project(root, {k: v for k, v in base.items() if v is not None})
        return root
    return make


def assert_fails_at(run, file, *codes):
    """Exit 1 and a one-line error at `file`, with one of `codes` when given."""
    assert run.code == 1, run.report["diagnostics"]
    hits = run.at(file)
    assert hits, f"no error at {file}: {run.report['diagnostics']}"
    for d in hits:
        assert d["message"] and "\n" not in d["message"].strip()
    if codes:
        assert {d["code"] for d in hits} & set(codes), hits


# -- YAML ---------------------------------------------------------------------------------------------
def test_yaml_alias_bomb(proj):
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, key in zip("abcdefgh", "bcdefghi"):
        bomb.append(f"{key}: &{key} [" + ",".join([f"*{prev}"] * 9) + "]")
    root = proj({"train.yaml": CONFIG + "\n".join(bomb) + "\n"})  # 9**9 = 387M strings if expanded
    run = lfgate(root, "train.yaml", timeout=30)
    assert_fails_at(run, "train.yaml", "TY004")


@pytest.mark.parametrize("tag", [
    '!!python/object/apply:os.system ["touch PWNED"]',
    "!!python/name:os.system",
    '!!python/object/new:subprocess.check_output [["touch", "PWNED"]]',
    '!!python/object/apply:builtins.exec ["open(\'PWNED\', \'w\')"]',
])
def test_yaml_tags_never_construct_python_objects(proj, tag):
    root = proj({"train.yaml": CONFIG.replace("dataset: d", f"dataset: {tag}")})
    run = lfgate(root, "train.yaml")
    assert not (root / "PWNED").exists()
    assert_fails_at(run, "train.yaml", "TY003")
    assert any(d["line"] == 5 for d in run.at("train.yaml")), run.report["diagnostics"]


def test_multi_document_yaml(proj):
    root = proj({"train.yaml": CONFIG + "---\n" + CONFIG})
    assert_fails_at(lfgate(root, "train.yaml"), "train.yaml", "TY001")


def test_yaml_top_level_list(proj):
    root = proj({"train.yaml": "".join(f"- {line}\n" for line in CONFIG.splitlines())})
    assert_fails_at(lfgate(root, "train.yaml"), "train.yaml", "TY001")


# -- deep nesting -------------------------------------------------------------------------------------
DEPTH = 300_000


def test_deeply_nested_registry(proj):
    root = proj({"data/dataset_info.json": '{"d": {"file_name": "d.json", "columns": ' + "[" * DEPTH
                 + "]" * DEPTH + "}}"})
    assert_fails_at(lfgate(root, timeout=30), "data/dataset_info.json", "DI001")


@pytest.mark.parametrize("name", ["d.json", "d.jsonl"])
def test_deeply_nested_data(proj, name):
    record = '{"instruction": "hi", "input": "", "output": ' + "[" * DEPTH + "]" * DEPTH + "}"
    text = record + "\n" if name.endswith("l") else "[" + record + "]\n"
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": name}}), "data/d.json": None,
                 f"data/{name}": text})
    run = lfgate(root, timeout=30)
    assert_fails_at(run, f"data/{name}", "DF013")
    assert any(d["sample"] in (0, None) and d["line"] == 1 for d in run.at(f"data/{name}"))


# -- encodings ----------------------------------------------------------------------------------------
BAD_BYTES = {
    "invalid-utf8": lambda text: text.encode().replace(b"hello", b"hel\xff\xfelo"),
    "nul-byte": lambda text: text.encode().replace(b"hello", b"hel\x00lo"),
    "lone-surrogate-bytes": lambda text: text.encode().replace(b"hello", b"hel\xed\xa0\x80lo"),
    "latin1": lambda text: text.replace("hello", "héllo").encode("latin-1"),
}


@pytest.mark.parametrize("kind", sorted(BAD_BYTES))
def test_bad_bytes_in_data(proj, kind):
    root = proj({"data/d.json": BAD_BYTES[kind](ALPACA)})
    run = lfgate(root)
    assert_fails_at(run, "data/d.json", "DF010", "DF011")
    assert any(d["line"] == 1 for d in run.at("data/d.json"))


@pytest.mark.parametrize("kind", sorted(BAD_BYTES))
def test_bad_bytes_in_registry(proj, kind):
    registry = REGISTRY.replace('"d.json"}', '"d.json", "split": "hello"}')
    root = proj({"data/dataset_info.json": BAD_BYTES[kind](registry)})
    assert_fails_at(lfgate(root), "data/dataset_info.json", "DI001")


def test_bom_in_registry(proj):
    # LLaMA-Factory opens dataset_info.json with json.load in utf-8: a BOM is "Unexpected UTF-8 BOM"
    root = proj({"data/dataset_info.json": b"\xef\xbb\xbf" + REGISTRY.encode()})
    assert_fails_at(lfgate(root), "data/dataset_info.json", "DI001")


def test_bom_in_data(proj):
    # checked against LLaMA-Factory 0.9.5: a BOM before a JSON array fails to load (DatasetGenerationError),
    # before JSON Lines pyarrow skips it and the data loads
    bom = b"\xef\xbb\xbf"
    line = b'{"instruction": "hi", "input": "", "output": "hello"}\n'
    root = proj({"data/dataset_info.json": '{"d": {"file_name": "d.json"}, "e": {"file_name": "e.jsonl"}}',
                 "data/d.json": bom + ALPACA.encode(), "data/e.jsonl": bom + line, "train.yaml": None})
    run = lfgate(root)
    assert_fails_at(run, "data/d.json", "DF012")
    assert not [d for d in run.report["diagnostics"] if d["file"] == "data/e.jsonl" and d["severity"] == "error"]


def test_escaped_lone_surrogate_in_json_lines(proj):
    # valid JSON text, not encodable text: pyarrow rejects it ("The surrogate pair in string is invalid")
    line = '{"instruction": "hi", "input": "", "output": "hel\\ud800lo"}\n'
    root = proj({"data/dataset_info.json": '{"d": {"file_name": "d.jsonl"}}', "data/d.json": None,
                 "data/d.jsonl": line})
    assert_fails_at(lfgate(root), "data/d.jsonl", "DF010", "DF011")


def test_escaped_lone_surrogate_in_a_json_array_loads(proj):
    # LLaMA-Factory loads a JSON array through Python's json, which accepts a lone surrogate escape (0.9.5)
    root = proj({"data/d.json": ALPACA.replace("hello", "hel\\ud800lo")})
    run = lfgate(root)
    assert run.code == 0, run.report["diagnostics"]


# -- numbers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1" + "0" * 5000, "-" + "9" * 20000])
def test_non_finite_and_huge_numbers_in_data(proj, value):
    # a number where LLaMA-Factory needs a string: the sample is dropped (or the file does not load)
    root = proj({"data/d.json": ALPACA.replace('"hello"', value)})
    run = lfgate(root)
    assert_fails_at(run, "data/d.json", "DS104", "DF010")
    assert any(d["line"] == 1 for d in run.at("data/d.json"))


@pytest.mark.parametrize("value", ["NaN", "1" + "0" * 5000])
def test_non_finite_and_huge_numbers_in_registry(proj, value):
    root = proj({"data/dataset_info.json": REGISTRY.replace('"d.json"}', f'"d.json", "num_samples": {value}}}')})
    run = lfgate(root)
    assert_fails_at(run, "data/dataset_info.json", "DI001", "DI117")


# -- paths --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("file_name", ["../../../../../../../../etc/passwd", "/etc/passwd", "/nonexistent/x.json",
                                       "../../nowhere.json"])
def test_file_name_leaving_the_project(proj, file_name):
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": file_name}})})
    run = lfgate(root)
    assert_fails_at(run, "data/dataset_info.json", "DF001", "DF002")


def test_file_name_leaving_the_project_to_a_real_dataset_is_named(proj, tmp_path):
    # LLaMA-Factory joins dataset_dir and file_name and loads `../` paths fine: not an error, but said
    (tmp_path / "outside.json").write_text(ALPACA)
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": "../../outside.json"}})})
    run = lfgate(root)
    assert run.code == 0, run.report["diagnostics"]
    [warning] = [d for d in run.report["diagnostics"] if d["code"] == "DF005"]
    assert warning["file"] == "data/dataset_info.json" and "outside.json" in warning["message"]


def test_symlink_loop_as_file_name(proj):
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": "loop.json"}})})
    os.symlink("loop.json", root / "data" / "loop.json")
    assert_fails_at(lfgate(root), "data/dataset_info.json", "DF001", "DF006")


def test_folder_with_a_symlink_loop(proj):
    # LLaMA-Factory lists the folder: the looping link is an entry without an allowed extension
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": "parts"}}),
                 "data/parts/a.json": ALPACA})
    os.symlink(".", root / "data" / "parts" / "self")
    run = lfgate(root, timeout=30)
    assert_fails_at(run, "data/dataset_info.json", "DF004")


def test_media_paths_leaving_the_project_and_looping(proj):
    records = [{"messages": [{"role": "user", "content": "<image>What is it?"},
                             {"role": "assistant", "content": "A cat."}], "images": [path]}
               for path in ("../../../../../../etc/passwd-not-here.jpg", "/nonexistent/a.jpg", "loop.jpg")]
    entry = {"d": {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages",
                                                                                 "images": "images"},
                   "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                            "assistant_tag": "assistant"}}}
    root = proj({"data/dataset_info.json": json.dumps(entry), "data/d.json": json.dumps(records),
                 "train.yaml": CONFIG.replace("Qwen2.5-0.5B-Instruct", "Qwen2-VL-2B-Instruct")
                 .replace("template: qwen", "template: qwen2_vl")})
    os.symlink("loop.jpg", root / "data" / "loop.jpg")
    run = lfgate(root)
    assert run.code == 1
    assert {d["sample"] for d in run.at("data/d.json")} >= {0, 1, 2}, run.report["diagnostics"]


# -- the registry itself ------------------------------------------------------------------------------
def test_registry_that_is_a_folder(proj):
    root = proj({"data/dataset_info.json": None, "data/dataset_info.json/x.json": ALPACA})
    run = lfgate(root)
    assert run.code == 1
    assert any(d["severity"] == "error" and "dataset_info.json" in (d["message"] + (d["file"] or ""))
               for d in run.report["diagnostics"]), run.report["diagnostics"]


def test_registry_that_is_a_folder_named_on_the_command_line(proj):
    root = proj({"data/dataset_info.json": None, "data/dataset_info.json/x.json": ALPACA})
    run = lfgate(root, "data/dataset_info.json")
    assert_fails_at(run, "data/dataset_info.json", "DI001")


@pytest.mark.parametrize("text", ["", "\n\n", "   "])
def test_empty_registry(proj, text):
    root = proj({"data/dataset_info.json": text})
    assert_fails_at(lfgate(root), "data/dataset_info.json", "DI001")


# -- size ---------------------------------------------------------------------------------------------
def test_a_single_20mb_json_line(proj):
    # one JSON array on one line, ~20 MB, one bad record in the middle
    good = {"instruction": "x" * 1000, "input": "", "output": "y" * 1000}
    records = [good] * 10_000
    records[7_777] = dict(good, output=None)
    text = json.dumps(records, separators=(",", ":"))
    assert len(text) > 20 * 10**6
    root = proj({"data/d.json": text})
    run = lfgate(root, timeout=60)
    assert_fails_at(run, "data/d.json", "DS104")
    hits = [d for d in run.at("data/d.json") if d["sample"] == 7_777]
    assert hits and all(d["line"] == 1 for d in hits), run.report["diagnostics"][:5]


def test_a_single_20mb_record(proj):
    # one JSONL record of 20 MB whose only message has a role no tag declares
    record = {"conversations": [{"from": "human", "value": "q" * (20 * MB)}, {"from": "bot", "value": "a"}]}
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": "d.jsonl", "formatting": "sharegpt"}}),
                 "data/d.json": None, "data/d.jsonl": json.dumps(record) + "\n" + json.dumps(record) + "\n"})
    run = lfgate(root, timeout=60)
    assert_fails_at(run, "data/d.jsonl", "DS201")
    assert {d["sample"] for d in run.at("data/d.jsonl")} >= {0, 1}
    assert {d["line"] for d in run.at("data/d.jsonl")} >= {1, 2}


def test_a_million_records(proj):
    n, bad = 1_000_000, 765_432
    line = b'{"instruction":"q","input":"","output":"a"}\n'
    data = bytearray(line * n)
    start = bad * len(line)
    data[start:start + len(line)] = b'{"instruction":"q","input":"","output":7}\n'
    root = proj({"data/dataset_info.json": json.dumps({"d": {"file_name": "d.jsonl"}}), "data/d.json": None,
                 "data/d.jsonl": bytes(data)})
    # issue 5's memory goal, for the whole process tree with the default workers (~125 MB measured)
    run = lfgate(root, timeout=240, max_mb=300)
    assert_fails_at(run, "data/d.jsonl", "DS104", "DF018")
    assert any(d["sample"] == bad and d["line"] == bad + 1 for d in run.at("data/d.jsonl"))
    assert run.report["summary"]["samples"] == n


def test_thousands_of_registered_datasets(proj):
    n, missing = 3000, 1234
    registry = {f"d{i}": {"file_name": f"d{i}.json"} for i in range(n)}
    files = {f"data/d{i}.json": ALPACA for i in range(n) if i != missing}
    root = proj({"data/dataset_info.json": json.dumps(registry, indent=1), "data/d.json": None, "train.yaml": None,
                 **files})
    run = lfgate(root, timeout=120)
    assert_fails_at(run, "data/dataset_info.json", "DF001")
    errors = [d for d in run.report["diagnostics"] if d["severity"] == "error"]
    assert {d["dataset"] for d in errors} == {f"d{missing}"}
    assert run.report["summary"]["samples"] == n - 1
