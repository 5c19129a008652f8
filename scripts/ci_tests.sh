#!/usr/bin/env bash
# The one test entry point: README's test command and .ci/run both end here, so this file is what CI runs.
# Run it from any folder with lfgate's venv active (`pip install -e '.[train,test]'` done):
#
#   bash scripts/ci_tests.sh
#
# Phases: ruff (lint, import order), mypy (types), the main suite, then the in-process parity part: the tests that
# import llamafactory themselves, run by LLaMA-Factory's own Python. Every oracle is required
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

phase ruff ruff check .
phase mypy mypy

if [ -n "$LF_PID" ]; then
  if wait "$LF_PID"; then
    tail -n 8 .lfvenv.log
  else
    cat .lfvenv.log
    FAILED+=("LLaMA-Factory venv")
  fi
  TIMES+=("LLaMA-Factory venv (in the background) $((SECONDS - LF_START)) s")
fi

ignores=()
for file in "${IN_PROCESS[@]}"; do ignores+=(--ignore="$file"); done
phase "main suite" python -m pytest -q -rs "${ignores[@]}"
phase "in-process parity" "$LFGATE_LF_PYTHON" -m pytest -q -rs "${IN_PROCESS[@]}"

echo "== times (LFGATE_LF_PYTHON=$LFGATE_LF_PYTHON)"
printf '   %s\n' "${TIMES[@]}"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "== FAILED: ${FAILED[*]}"
  exit 1
fi
echo "== all phases passed"
