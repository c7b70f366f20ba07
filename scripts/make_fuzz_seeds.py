#!/usr/bin/python3
"""Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/): small valid inputs of every
format, so that fuzzing starts past the first checks. Run once; the corpus is committed.

  /usr/bin/python3 scripts/make_fuzz_seeds.py [build-fuzz/tests/fuzz/fuzz_checkpoint \
      build-fuzz/tests/fuzz/fuzz_safetensors]
"""
import gzip
import io
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")
MAGIC = 0xCED7230A


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def image_bytes(fmt, mode="L", size=(8, 8), seed=1):
    img = Image.new(mode, size)
    img.putdata([((i * 37 + seed * 11) % 256) if mode == "L" else
                 ((i * 37) % 256, (i * 11 + seed) % 256, (i * 5) % 256) for i in range(size[0] * size[1])])
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def ir_record(labels, image, ident=0):
    flag = 0 if len(labels) == 1 else len(labels)
    head = struct.pack("<IfQQ", flag, labels[0] if flag == 0 else 0.0, ident, 0)
    extra = b"" if flag == 0 else struct.pack("<%df" % len(labels), *labels)
    return head + extra + image


def rec_frame(payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("<II", MAGIC, len(payload)) + payload + b"\0" * pad


def recordio(records):
    """records: list of (key, payload) -> idx text + '\\n--\\n' + rec bytes."""
    rec, idx = b"", ""
    for key, payload in records:
        idx += "%d\t%d\n" % (key, len(rec))
        rec += rec_frame(payload)
    return idx.encode() + b"\n--\n" + rec


def idx_file(magic, dims, data):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def fuzz_hook_output(target, variable, name):
    """What a fuzz target's seed hook writes when started with `variable` naming a file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        subprocess.run([target, "-runs=0", empty], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1", **{variable: path}),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(path, "rb") as f:
            return f.read()


def main():
    # Images.
    put("fuzz_image_decode", "grey.png", image_bytes("PNG"))
    put("fuzz_image_decode", "colour.jpg", image_bytes("JPEG", "RGB", (12, 9)))
    put("fuzz_image_decode", "grey.pgm", image_bytes("PPM", "L", (6, 5)))
    put("fuzz_image_decode", "colour.bmp", image_bytes("BMP", "RGB", (5, 7)))
    put("fuzz_image_decode", "colour.tif", image_bytes("TIFF", "RGB", (4, 4)))

    # RecordIO: plain records, InsightFace layout (header record + identity ranges), multi-label.
    imgs = [image_bytes("PNG", seed=s) for s in range(4)]
    put("fuzz_recordio", "plain", recordio([(k, ir_record([float(k % 2)], imgs[k])) for k in range(4)]))
    header = ir_record([5.0, 7.0], b"")
    insightface = [(0, header)] + [(k, ir_record([float((k - 1) // 2)], imgs[k - 1])) for k in range(1, 5)]
    insightface += [(5, ir_record([1.0, 3.0], b"")), (6, ir_record([3.0, 5.0], b""))]
    put("fuzz_recordio", "insightface", recordio(insightface))
    put("fuzz_recordio", "multilabel", recordio([(0, ir_record([1.0, 0.5, 2.0], imgs[0])),
                                                 (1, ir_record([0.0, 0.5, 2.0], imgs[1]))]))
    # A payload holding the magic at an aligned offset is split into continuation parts.
    magic_payload = ir_record([0.0], struct.pack("<I", MAGIC) * 2 + imgs[2])
    put("fuzz_recordio", "with_magic", recordio([(0, magic_payload), (1, ir_record([1.0], imgs[3]))]))

    # IDX: labels + images, raw and gzip.
    labels = idx_file(0x801, [3], [0, 1, 1])
    images = idx_file(0x803, [3, 4, 4], [(i * 13) % 256 for i in range(48)])
    put("fuzz_idx", "raw", labels + b"\n--\n" + images)
    put("fuzz_idx", "gzip", gzip.compress(labels, mtime=0) + b"\n--\n" + gzip.compress(images, mtime=0))

    # Job specs.
    configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
    for name in sorted(os.listdir(configs)):
        if name.endswith(".json"):
            with open(os.path.join(configs, name), "rb") as f:
                put("fuzz_job_spec", name, f.read())
    put("fuzz_job_spec", "minimal.json", b'{"data": {"path": "/tmp"}}')
    put("fuzz_job_spec", "full.json", b'{"name": "j", "preset": "tiny", "model": {"input_size": 32},'
        b' "data": {"path": "/tmp", "format": "recordio", "ur_max_images": 5},'
        b' "training": {"method": "ftl", "rounds": 2, "batch_size": 8},'
        b' "runtime": {"device": "cpu", "bf16_autocast": false, "bucket_mb": 1.5},'
        b' "evaluation": {"pairs_path": "/tmp/p.txt"}}')

    # Checkpoints: a real one made by the fuzz target's own fixture.
    if len(sys.argv) > 1:
        ckpt = fuzz_hook_output(sys.argv[1], "FTL_FUZZ_WRITE_CHECKPOINT", "seed.ftlckpt")
        put("fuzz_checkpoint", "whole_file", b"\x00" + ckpt)
        put("fuzz_checkpoint", "framed_payload", b"\x01" + ckpt[20:])
    put("fuzz_checkpoint", "bad_magic", b"\x00NOTACKPT" + b"\0" * 16)

    # Safetensors: one spelled out by hand, and a real embedding export from the target's hook.
    header = b'{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    put("fuzz_safetensors", "hand", struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1, 2))
    if len(sys.argv) > 2:
        put("fuzz_safetensors", "embedding_export", fuzz_hook_output(
            sys.argv[2], "FTL_FUZZ_WRITE_EMBEDDING", "seed.safetensors"))


if __name__ == "__main__":
    main()
