#!/usr/bin/python3
"""ONNX from an `ftl export` TorchScript module (run by `ftl export --format onnx`).

The ONNX model has the module's input convention: "images", uint8 [N, C, S, S] with a dynamic
batch dimension, and one output, "embeddings", float32 [N, D], L2-normalised. Needs torch (Debian's
python3-torch 1.13, the LibTorch the project builds against, or a newer PyPI torch with its
TorchScript-based exporter). Writes --out only when the export succeeded.
"""
import argparse
import os
import sys

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="TorchScript module from ftl export")
    parser.add_argument("--out", required=True, help="the .onnx file")
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()
    scripted = torch.jit.load(args.model, map_location="cpu")
    size, channels = int(scripted.input_size), int(scripted.channels)
    example = torch.zeros(2, channels, size, size, dtype=torch.uint8)
    temporary = args.out + ".partial"
    kwargs = {}
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kwargs["dynamo"] = False  # the TorchScript-based exporter (newer torch defaults to dynamo)
    # The TorchScript module itself: its input asserts have no ONNX form and are left out.
    torch.onnx.export(scripted, (example,), temporary, input_names=["images"],
                      output_names=["embeddings"], opset_version=args.opset,
                      dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}}, **kwargs)
    os.replace(temporary, args.out)
    print("onnx: %s -> %s (opset %d, torch %s)" % (args.model, args.out, args.opset, torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
