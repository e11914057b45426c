#!/usr/bin/env python3
"""Runs an ONNX file exported by `adjacent export` in onnxruntime and checks its logits against
adjacent's own (the `--reference` JSON the export wrote beside it).

Usage: check_onnx.py MODEL.onnx REFERENCE.json [TOLERANCE]   (needs: pip install onnxruntime numpy)
Prints the largest absolute difference; exits 1 when it is above TOLERANCE (default 1e-4).
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    model, reference = sys.argv[1], sys.argv[2]
    tolerance = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-4
    with open(reference) as f:
        ref = json.load(f)
    shape = ref["shape"]
    images = np.asarray(ref["images"], dtype=np.float32).reshape(shape)
    expected = np.asarray(ref["logits"], dtype=np.float32).reshape(shape[0], -1)

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    [inp] = session.get_inputs()
    [out] = session.get_outputs()
    print(f"onnxruntime {ort.__version__}: input {inp.name} {inp.shape}, output {out.name} {out.shape}")
    worst = 0.0
    # The batch dimension is dynamic: one image at a time and the whole batch must both agree.
    for batch in (images[:1], images):
        (logits,) = session.run([out.name], {inp.name: batch})
        worst = max(worst, float(np.abs(logits - expected[: len(batch)]).max()))
    agree = int((np.argmax(logits, 1) == np.argmax(expected, 1)).sum())
    print(f"largest |onnxruntime - adjacent| over {shape[0]} images: {worst:.3g} "
          f"(tolerance {tolerance:g}); same class for {agree} of {shape[0]}")
    sys.exit(0 if worst <= tolerance else 1)


if __name__ == "__main__":
    main()
