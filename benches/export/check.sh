#!/usr/bin/env bash
# Exports saved models to ONNX and to PyTorch and checks both against adjacent's own logits:
# the ONNX file in onnxruntime, the PyTorch module (model.py and its state dict) in torch.
# Usage: benches/export/check.sh OUT MODEL_DIR...   (a MODEL_DIR is a search's best/ folder)
# Installs onnxruntime (and, unless NO_TORCH=1, torch and safetensors) from PyPI into a virtual
# environment, VENV (default OUT/venv), the first time; ADJACENT names the binary (default
# target/release/adjacent).
set -euo pipefail
out=${1:?an output folder}; shift
bin=${ADJACENT:-target/release/adjacent}
here=$(dirname "$0")
mkdir -p "$out"
venv=${VENV:-$out/venv}
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet onnxruntime numpy
fi
if [[ ${NO_TORCH:-0} != 1 ]] && ! "$venv/bin/python" -c "import torch, safetensors" 2> /dev/null; then
  "$venv/bin/pip" install --quiet torch safetensors
fi
for model in "$@"; do
  name=$(echo "$model" | tr -c 'A-Za-z0-9_.\n-' _)
  "$bin" export --model "$model" --format onnx --out "$out/$name.onnx" \
    --reference "$out/$name.json" --force
  "$venv/bin/python" "$here/check_onnx.py" "$out/$name.onnx" "$out/$name.json"
  if [[ ${NO_TORCH:-0} != 1 ]]; then
    "$bin" export --model "$model" --format pytorch --out "$out/$name-pytorch" --force
    "$venv/bin/python" "$here/check_pytorch.py" "$out/$name-pytorch" "$out/$name.json"
  fi
done
