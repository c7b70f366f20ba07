#!/usr/bin/env bash
# Issue 17 end to end: a job trained by ftl_worker, then `ftl export` (TorchScript, ONNX and
# safetensors: read by Python's safetensors, the same embeddings as TorchScript's),
# `ftl embed` and `ftl verify`. Images are random 32x32 PGMs of exactly the input size (so every runtime sees the
# same pixels): the embeddings `ftl embed` writes (LibTorch) equal Python's torch.jit.load of the
# exported module to 1e-5, and onnxruntime's run of the ONNX file to 1e-4 (batch size other than
# the export's, mirror-image option too). `ftl verify` on .bin files pickled by Python (protocols
# 2 and 4) from 100 LFW pairs agrees with the pairs.txt route (`ftl eval`) on the same pairs. Bad
# input (a pickle that would run code, a truncated or foreign .bin), a foreign checkpoint, an unwritable --out,
# a folder without readable images — clear errors and nothing written.
#   export_e2e_test.sh FTL WORKER DATA_ROOT VENV_PYTHON
set -euo pipefail
ftl=$(realpath "$1") worker=$(realpath "$2") data_root=$(realpath "$3") venv_python=$(realpath -s "$4")
yale="$data_root/yaleb-cropped"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work"

cat > job.json <<JSON
{"name": "export", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$yale", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": 40, "rounds": 1, "stage_iterations": 10},
 "runtime": {"output_dir": "$work/run"}}
JSON
"$worker" --config job.json --threads 2 > worker.log 2>&1 || { tail worker.log; fail "training"; }

"$ftl" export --checkpoint run --out enc.pt | tee export.log
grep -q "uint8 images \[N, 1, 32, 32\] -> 128-d L2-normalised f" export.log || fail "export summary"
"$ftl" export --checkpoint run --out enc_g.pt --features g > /dev/null
"$ftl" export --checkpoint run --out enc.onnx --format onnx > /dev/null || fail "ONNX export"

/usr/bin/python3 - <<'PY'
import os
import numpy as np
rng = np.random.default_rng(3)
for person in range(3):
    os.makedirs("faces/p%d" % person)
    for k in range(5):
        pixels = rng.integers(0, 256, (32, 32), dtype=np.uint8)
        with open("faces/p%d/%d.pgm" % (person, k), "wb") as f:
            f.write(b"P5\n32 32\n255\n" + pixels.tobytes())
PY
echo "not an image" > faces/p0/zz_broken.pgm
"$ftl" embed --model enc.pt --data faces --out emb --embed_batch 4 2> embed.err | tee embed.log
grep -q "is a TorchScript module: loading it runs the code it carries" embed.err ||
  fail "embed did not say that a TorchScript module is code"
grep -q "15 embeddings (128-d)" embed.log || fail "embed summary"
grep -q "zz_broken.pgm" emb/skipped.txt || fail "unreadable image not listed"
"$ftl" embed --model enc.pt --data faces --out emb_flip --flip > /dev/null
"$ftl" embed --checkpoint run --features g --data faces --out emb_g > /dev/null

cat > read_faces.py <<'PY'
import numpy as np
def faces(names_file):
    names = open(names_file).read().split()
    x = np.stack([np.frombuffer(open("faces/" + n, "rb").read()[-1024:], np.uint8).reshape(1, 32, 32)
                  for n in names])
    return names, x
PY
/usr/bin/python3 - <<'PY' || fail "Python's torch.jit.load disagrees with ftl embed"
import numpy as np, torch
from read_faces import faces
names, x = faces("emb/names.txt")
assert len(names) == 15 and all(n.endswith(".pgm") for n in names), names
def check(model, out, flip=False):
    m = torch.jit.load(model)
    with torch.no_grad():
        y = m(torch.from_numpy(x))
        if flip:
            y = y + m(torch.from_numpy(x).flip(3))
            y = y / y.norm(dim=1, keepdim=True)
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (15, 128), (got.dtype, got.shape)
    diff = np.abs(got - y.numpy()).max()
    print("%s vs %s: max difference %.2e (torch %s)" % (model, out, diff, torch.__version__))
    assert diff < 1e-5
check("enc.pt", "emb/embeddings.npy")
check("enc.pt", "emb_flip/embeddings.npy", flip=True)
check("enc_g.pt", "emb_g/embeddings.npy")
m = torch.jit.load("enc.pt")
assert (int(m.input_size), int(m.channels), int(m.feature_dim), m.feature_layer) == (32, 1, 128, "f")
try:
    m(torch.zeros(2, 1, 32, 32))
    raise SystemExit("a float input was accepted")
except Exception as e:
    assert "expected uint8 images" in str(e), e
PY
"$venv_python" - <<'PY' || fail "onnxruntime disagrees with ftl embed"
import numpy as np, onnxruntime
from read_faces import faces
names, x = faces("emb/names.txt")
session = onnxruntime.InferenceSession("enc.onnx")
y = np.concatenate([session.run(None, {"images": x[:7]})[0], session.run(None, {"images": x[7:]})[0]])
diff = np.abs(np.load("emb/embeddings.npy") - y).max()
print("enc.onnx (onnxruntime %s) vs ftl embed: max difference %.2e" % (onnxruntime.__version__, diff))
assert diff < 1e-4
PY

echo "--- safetensors: weights only; Python's safetensors reads it; the same embeddings as TorchScript"
"$ftl" export --checkpoint run --out enc.safetensors --format safetensors | tee export_st.log
grep -q "(safetensors, weights only): uint8 images \[N, 1, 32, 32\] -> 128-d" export_st.log || fail "export summary"
"$ftl" embed --model enc.safetensors --data faces --out emb_st --embed_batch 4 > /dev/null 2> embed_st.err
! grep -q "TorchScript" embed_st.err || fail "the code-free route warned of code"
"$venv_python" - <<'PY' || fail "the safetensors export"
import numpy as np
from safetensors import safe_open
with safe_open("enc.safetensors", framework="np") as f:
    meta, keys = f.metadata(), list(f.keys())
    assert all(f.get_tensor(k).dtype == np.float32 for k in keys if not k.endswith("num_batches_tracked"))
assert meta["ftl.network"] == "small:paper" and meta["ftl.features"] == "f", meta
assert (meta["ftl.input_size"], meta["ftl.channels"], meta["ftl.feature_dim"]) == ("32", "1", "128"), meta
enc = [k for k in keys if k.startswith("enc.")]
filt = [k for k in keys if k.startswith("filter.")]
assert enc and filt and len(enc) + len(filt) == len(keys), keys
diff = np.abs(np.load("emb_st/embeddings.npy") - np.load("emb/embeddings.npy")).max()
print("enc.safetensors: %d tensors (safetensors.numpy); ftl embed from it vs from enc.pt: max "
      "difference %.2e" % (len(keys), diff))
assert diff < 1e-6
PY

echo "--- ftl verify on InsightFace .bin files (pickle protocols 2 and 4) and the pairs.txt route"
lfw="$data_root/lfw"
/usr/bin/python3 - "$lfw" <<'PY'
import pickle, sys
lfw = sys.argv[1]
lines = [l.split() for l in open(lfw + "/pairsDevTest.txt").read().splitlines()[1:]]
same = [l for l in lines if len(l) == 3][:50]
diff = [l for l in lines if len(l) == 4][:50]
def path(name, k):
    return "%s/lfw-deepfunneled/%s/%s_%04d.jpg" % (lfw, name, name, int(k))
images, flags, text = [], [], ["10\t5"]
for fold in range(10):  # LFW's layout: per fold, 5 same then 5 different pairs
    for l in same[5 * fold:5 * fold + 5] + diff[5 * fold:5 * fold + 5]:
        a, b = (path(l[0], l[1]), path(l[0], l[2])) if len(l) == 3 else (path(l[0], l[1]), path(l[2], l[3]))
        images += [open(a, "rb").read(), open(b, "rb").read()]
        flags.append(len(l) == 3)
        text.append("\t".join(l))
for protocol in (2, 4):
    with open("sub_p%d.bin" % protocol, "wb") as f:
        pickle.dump((images, flags), f, protocol=protocol)
open("sub_pairs.txt", "w").write("\n".join(text) + "\n")
class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch pwned",))
with open("evil.bin", "wb") as f:
    pickle.dump(([Evil()], [True]), f, protocol=4)
PY
"$ftl" verify --checkpoint run --bin sub_p2.bin --bin sub_p4.bin --verify_flip=false | tee verify.log
[[ $(grep -c "accuracy .* (100 pairs, 10 folds, f" verify.log) == 2 ]] || fail "verify lines"
[[ $(grep -o "accuracy [0-9.]* +- [0-9.]*" verify.log | sort -u | wc -l) == 1 ]] ||
  fail "protocols 2 and 4 gave different results"
"$ftl" verify --model enc.safetensors --bin sub_p4.bin --verify_flip=false > verify_st.log || fail "verify safetensors"
[[ $(grep -o "accuracy [0-9.]* +- [0-9.]*" verify_st.log) == $(grep -o "accuracy [0-9.]* +- [0-9.]*" verify.log | head -1) ]] ||
  fail "verify from the safetensors export differs from the checkpoint's"
"$ftl" verify --model enc.pt --bin sub_p4.bin > verify_flip.log 2> /dev/null || fail "verify with the mirror image"
grep -q "f + mirror" verify_flip.log || fail "verify --flip"
cat > eval.json.in <<JSON
{"name": "eval", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$yale", "cut_classes": 13, "cut_to_images": 5},
 "evaluation": {"pairs_path": "$work/sub_pairs.txt", "pairs_images": "$lfw/lfw-deepfunneled"}}
JSON
"$ftl" eval --config eval.json.in --checkpoint run --out ev > eval.log 2>&1 || { tail eval.log; fail "ftl eval"; }
/usr/bin/python3 - <<'PY' || fail "ftl verify and the pairs.txt route disagree"
import json, re
pairs_route = json.load(open("ev/eval.json"))
metrics = pairs_route.get("metrics", pairs_route)
route = metrics["verif_acc_f"]
line = open("verify.log").read()
verify = float(re.search(r"accuracy ([0-9.]+)", line).group(1))
tar = float(re.search(r"TAR ([0-9.]+) at FAR 1e-2", line).group(1))
print("on the same 100 pairs: accuracy ftl verify %.4f, pairs.txt route %.4f; TAR at FAR 1e-2 %.4f, %.4f"
      % (verify, route, tar, metrics["verif_tar_far1e2_f"]))
assert abs(verify - route) <= 0.0101, (verify, route)  # at most one pair apart
assert abs(tar - metrics["verif_tar_far1e2_f"]) <= 0.0201, tar  # one same pair of 50
PY

echo "--- bad input"
expect_bin_error() {  # expect_bin_error WHAT FILE PATTERN
  set +e
  local out code
  out=$("$ftl" verify --model enc.pt --bin "$2" 2>&1); code=$?
  set -e
  [[ $code != 0 && $out == *$3* ]] || fail "$1: exit $code: $out"
  echo "refused as it should be ($1): $(echo "$out" | tail -1)"
}
expect_bin_error "code-executing pickle" evil.bin GLOBAL
[[ ! -e pwned ]] || fail "the pickle ran code"
head -c 5000 sub_p4.bin > cut.bin
expect_bin_error "truncated .bin" cut.bin "not an InsightFace verification .bin"
expect_bin_error "foreign .bin" job.json "not an InsightFace verification .bin"
expect_error() {  # expect_error WHAT PATTERN ftl-args...
  local what=$1 pattern=$2; shift 2
  set +e
  local out code
  out=$("$ftl" "$@" 2>&1); code=$?
  set -e
  [[ $code != 0 && $out == *$pattern* ]] || fail "$what: exit $code: $out"
  echo "refused as it should be ($what): $(echo "$out" | tail -1)"
}
echo "not a checkpoint" > foreign.ftlckpt
expect_error "foreign checkpoint" "foreign.ftlckpt" export --checkpoint foreign.ftlckpt --out x.pt
[[ ! -e x.pt ]] || fail "a failed export left x.pt"
expect_error "unwritable --out" "does not exist" export --checkpoint run --out /no/such/dir/x.pt
expect_error "not a model" "is neither an \`ftl export\` file" embed --model job.json --data faces --out e2
mkdir -p empty/p0 && echo junk > empty/p0/a.pgm
expect_error "nothing readable" "could be read" embed --model enc.pt --data empty --out e3
[[ ! -e e3/embeddings.npy ]] || fail "an empty result left embeddings.npy"
echo PASS
