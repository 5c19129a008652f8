#!/usr/bin/env bash
# Build a virtual environment with LLaMA-Factory 0.9.5, the version lfgate mirrors, for the parity tests
# (LFGATE_LF_PYTHON=<venv>/bin/python) and the 2-process loss benchmark (benchmarks/README.md).
#
#   bash scripts/make_llamafactory_venv.sh [VENV_DIR]     # default: ../lfvenv, where the tests look for it
#
# torch is installed FIRST and pinned (the CPU build, found on the machine's wheel folder when pip is set up with
# one), so that llamafactory's own requirements never pull another, unpinned torch.
set -euo pipefail

VENV="${1:-../lfvenv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)

"${PIP[@]}" --upgrade pip
# CPU torch first, from pip's configured wheel folder or index (set TORCH_INDEX_URL, e.g. PyTorch's CPU index,
# where the CPU wheel is not on disk: PyPI's Linux torch is the CUDA build).
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" "torch==${TORCH_VERSION}" --extra-index-url "$TORCH_INDEX_URL"
else
  "${PIP[@]}" "torch==${TORCH_VERSION}"
fi
# llamafactory with torch held at the version above: a constraint, so a resolver wanting another torch fails loudly.
CONSTRAINT="$(mktemp)"
trap 'rm -f "$CONSTRAINT"' EXIT
echo "torch==${TORCH_VERSION}" > "$CONSTRAINT"
"${PIP[@]}" -c "$CONSTRAINT" "llamafactory==0.9.5"
# The SDK USE_MODELSCOPE_HUB downloads with: tests/test_modelscope_oracle.py compares its cache folders with lfgate's
"${PIP[@]}" -c "$CONSTRAINT" "modelscope==1.40.2"

# PyPI's torchvision / torchaudio wheels are built against another torch than this CPU build: they fail at import
# ("operator torchvision::nms does not exist", "Could not load this library: _torchaudio.abi3.so").
# transformers imports torchvision whenever it is installed, so a broken one goes; LLaMA-Factory's mm_plugin.py
# imports torchaudio unconditionally, so torchaudio stays without its compiled ops (its __init__ then runs in pure
# Python: _load_lib returns False for a missing library). Text-only runs use neither.
if ! "$VENV/bin/python" -c "import torchvision" >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -y torchvision >/dev/null 2>&1 || true
  echo "removed torchvision (does not import with torch ${TORCH_VERSION}; not needed for text-only runs)"
fi
if ! "$VENV/bin/python" -c "import torchaudio" >/dev/null 2>&1; then
  SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  rm -f "$SITE"/torchaudio/lib/*.so
  echo "torchaudio: compiled ops removed (built for another torch); pure-Python import only"
fi
"$VENV/bin/python" -c "import llamafactory.data.mm_plugin" || { echo "llamafactory does not import"; exit 1; }

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("llamafactory", "torch", "transformers", "datasets", "accelerate", "peft", "trl"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: missing")
PY
echo "LFGATE_LF_PYTHON=$VENV/bin/python"
