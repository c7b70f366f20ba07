"""Hugging Face's safetensors (PyPI) against ours, for safetensors_interop_test.sh.

  safetensors_interop.py read FILE    lists FILE as tests/safetensors_probe.cc does
  safetensors_interop.py write FILE   writes a set with safetensors.numpy.save_file, lists it
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

NAMES = {np.float64: "F64", np.float32: "F32", np.float16: "F16", np.int64: "I64",
         np.int32: "I32", np.int16: "I16", np.int8: "I8", np.uint8: "U8", np.bool_: "BOOL"}


def listing(tensors, metadata):
    lines = []
    for name in sorted(tensors):
        a = tensors[name]
        lines.append("%s %s [%s] %.6g" % (name, NAMES[a.dtype.type], ",".join(map(str, a.shape)),
                                          a.astype(np.float64).sum()))
    for key in sorted(metadata or {}):
        lines.append("meta %s=%s" % (key, metadata[key]))
    print("\n".join(lines))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "write":
        base = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
        tensors = {"w64": base / 7, "w32": (base / 3).astype(np.float32),
                   "w16": (base / 4).astype(np.float16), "n64": (base * 1e9).astype(np.int64),
                   "n32": (base - 10).astype(np.int32), "n16": (base * -3).astype(np.int16),
                   "n8": (base - 12).astype(np.int8), "u8": (base * 10).astype(np.uint8),
                   "flags": (base % 3) == 0, "one": np.array(2.5, dtype=np.float32),
                   "none": np.zeros((0, 3), dtype=np.float32)}
        metadata = {"format": "np", "written by": "safetensors.numpy"}
        save_file(tensors, path, metadata=metadata)
        listing(tensors, metadata)
        return
    with safe_open(path, framework="np") as f:
        listing({k: f.get_tensor(k) for k in f.keys()}, f.metadata())


if __name__ == "__main__":
    main()
