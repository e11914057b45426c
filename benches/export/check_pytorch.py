#!/usr/bin/env python3
"""Loads a model exported by `adjacent export --format pytorch` (its model.py and
weights.safetensors) in PyTorch and checks its logits against adjacent's own (the `--reference`
JSON the export wrote).

Usage: check_pytorch.py EXPORT_DIR REFERENCE.json [TOLERANCE]   (needs: pip install torch safetensors)
Prints the largest absolute difference; exits 1 when it is above TOLERANCE (default 1e-4).
"""
import importlib.util
import json
import os
import sys

import torch


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    folder, reference = sys.argv[1], sys.argv[2]
    tolerance = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-4
    spec = importlib.util.spec_from_file_location("model", os.path.join(folder, "model.py"))
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    # load_state_dict is strict: every name of the module must be in the file and no other.
    net = model.load(os.path.join(folder, "weights.safetensors"))
    with open(reference) as f:
        ref = json.load(f)
    shape = ref["shape"]
    images = torch.tensor(ref["images"], dtype=torch.float32).reshape(shape)
    expected = torch.tensor(ref["logits"], dtype=torch.float32).reshape(shape[0], -1)
    with torch.no_grad():
        logits = net(images)
    worst = float((logits - expected).abs().max())
    params = sum(p.numel() for p in net.parameters())
    print(f"torch {torch.__version__}: {params} parameters; largest |pytorch - adjacent| over "
          f"{shape[0]} images: {worst:.3g} (tolerance {tolerance:g})")
    sys.exit(0 if worst <= tolerance else 1)


if __name__ == "__main__":
    main()
