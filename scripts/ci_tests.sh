#!/usr/bin/env bash
# The one test entry point: README's test command and .ci/run both end here, so this file is what CI runs.
# Run it from any folder with lfgate's venv active (`pip install -e '.[train,test]'` done):
#
#   bash scripts/ci_tests.sh
#
# Phases: ruff (lint, import order), mypy (types), the main suite on both cores (pytest-xdist; while .lfvenv builds,
# the files that do not start LLaMA-Factory's Python, then those that do), then the in-process parity part: the
# tests that import llamafactory themselves, run by LLaMA-Factory's own Python. Every oracle is required
# (LFGATE_REQUIRE_ORACLES=1): a missing LLaMA-Factory or ../shared fails, never skips. Real-world case folders
# missing from ../shared/realworld skip unless LFGATE_REQUIRE_CORPUS=1 (tests/README.md, "The parity suite").
#
# LLaMA-Factory 0.9.5: LFGATE_LF_PYTHON if set (a Python with llamafactory, pytest, hypothesis, msgspec and
# jsonschema), else .lfvenv/ in the checkout (git-ignored), built by scripts/make_llamafactory_venv.sh while ruff
# and mypy run. Every phase runs even when one before it failed; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export LFGATE_REQUIRE_ORACLES="${LFGATE_REQUIRE_ORACLES:-1}"
# The tests that import llamafactory in-process (tests/test_readme_ci.py checks this list against the tests).
IN_PROCESS=(tests/test_differential.py tests/test_register_llamafactory.py tests/test_runner_lf_parity.py)
# The other files that run LLaMA-Factory's Python in a subprocess: the rest of the main suite runs while it builds.
LF_SUBPROCESS=(tests/test_choice_severity.py tests/test_config_forms.py tests/test_converter.py
  tests/test_datafile_vs_llamafactory.py tests/test_hostile_faults.py tests/test_lf_facts.py
  tests/test_modelscope_oracle.py tests/test_runner_multiprocess.py tests/test_runner_outputs_template.py tests/test_samples_sharegpt.py
  tests/test_training_vs_llamafactory.py tests/test_what_trains_vs_llamafactory.py tests/test_whitespace_response.py
  tests/test_yaml_reader.py)
FAILED=()
TIMES=()

phase() {  # phase NAME COMMAND...: run it, time it, remember a failure
  local name="$1" start=$SECONDS
  shift
  echo "== $name: $*"
  "$@" || FAILED+=("$name")
  TIMES+=("$name $((SECONDS - start)) s")
}

build_lf_venv() {
  bash scripts/make_llamafactory_venv.sh .lfvenv \
    && .lfvenv/bin/python -m pip install -q --disable-pip-version-check -e . --no-deps \
    && .lfvenv/bin/python -m pip install -q --disable-pip-version-check pytest hypothesis msgspec jsonschema rich orjson
}

LF_START=$SECONDS
if [ -n "${LFGATE_LF_PYTHON:-}" ]; then
  LF_PID=""
elif [ -x .lfvenv/bin/python ] && .lfvenv/bin/python -c "import llamafactory, pytest, lfgate" 2>/dev/null; then
  export LFGATE_LF_PYTHON="$PWD/.lfvenv/bin/python"
  LF_PID=""
else
  rm -rf .lfvenv
  echo "== LLaMA-Factory venv: building .lfvenv in the background (log: .lfvenv.log)"
  build_lf_venv > .lfvenv.log 2>&1 &
  LF_PID=$!
  export LFGATE_LF_PYTHON="$PWD/.lfvenv/bin/python"
fi

# Bytecode for lfgate's sources once: the suite starts lfgate in hundreds of subprocesses (and a box that sets
# PYTHONDONTWRITEBYTECODE would compile every module in each of them again: ~0.2 s of CPU per start).
python -m compileall -q -j 0 lfgate tests scripts > /dev/null || true

phase ruff ruff check .
phase mypy mypy

ignores=()
for file in "${IN_PROCESS[@]}"; do ignores+=(--ignore="$file"); done
# Both cores (pytest-xdist): whole files per worker, so module-scoped fixtures (an LLaMA-Factory probe, a built
# wheel) run once; the 25 slowest tests are listed. LFGATE_TEST_WORKERS=0 runs each part in one process.
pytest_main=(python -m pytest -q -rs --durations=25 -n "${LFGATE_TEST_WORKERS:-2}" --dist loadfile)
if [ -n "$LF_PID" ]; then
  # While the venv builds, the files that never run LLaMA-Factory's Python; it does not exist yet for them, so one
  # that needs it fails (every oracle is required) and belongs in LF_SUBPROCESS (tests/test_readme_ci.py checks
  # the list against the files that name LFGATE_LF_PYTHON).
  lf_ignores=()
  for file in "${LF_SUBPROCESS[@]}"; do lf_ignores+=(--ignore="$file"); done
  phase "main suite, while the venv builds" env LFGATE_LF_PYTHON="$PWD/.lfvenv/not-built-yet/bin/python" \
    "${pytest_main[@]}" "${ignores[@]}" "${lf_ignores[@]}"
  if wait "$LF_PID"; then
    tail -n 8 .lfvenv.log
  else
    cat .lfvenv.log
    FAILED+=("LLaMA-Factory venv")
  fi
  TIMES+=("LLaMA-Factory venv (in the background) $((SECONDS - LF_START)) s")
  phase "main suite, LLaMA-Factory's Python" "${pytest_main[@]}" "${LF_SUBPROCESS[@]}"
else
  phase "main suite" "${pytest_main[@]}" "${ignores[@]}"
fi
phase "in-process parity" "$LFGATE_LF_PYTHON" -m pytest -q -rs "${IN_PROCESS[@]}"

echo "== times (LFGATE_LF_PYTHON=$LFGATE_LF_PYTHON)"
printf '   %s\n' "${TIMES[@]}"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "== FAILED: ${FAILED[*]}"
  exit 1
fi
echo "== all phases passed"
