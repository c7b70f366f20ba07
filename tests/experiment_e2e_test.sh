#!/usr/bin/env bash
# End to end: the Table-1 tools on a small real image folder (15 identities x 11 images of
# Yale B, as a user with a tiny set would have): ftl split, ftl pairs, ftl experiment (all
# variants, tuned on the validation split, 2 seeds, 2 MPI ranks), results.csv / results_seeds.csv /
# results.md, the figures and pictures, and ftl eval on the FTL checkpoint; ftl pack to RecordIO
# and a run from it; paths with quotes and $(...) never reach a shell. Then bad requests exit 2
# with a reason.
set -euo pipefail
ftl=$1
worker=$2
data_root=$3
yale="$data_root/yaleb-cropped"
[[ -d $yale ]] || { echo "FAIL: $yale not found"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$work/faces"
for id in $(ls "$yale" | grep yaleB | head -15); do
  mkdir "$work/faces/$id"
  for f in $(ls "$yale/$id" | grep -i '\.pgm$' | head -11); do ln -s "$yale/$id/$f" "$work/faces/$id/$f"; done
done

# split: 5 regular, 10 cut to 3 training images, 3 probes each, 1 validation image each; the
# roles by count (the rule for a natural long tail).
"$ftl" split --data "$work/faces" --out "$work/split" --regular 5 --ur_images 3 --holdout 3 --validation 1 \
  --roles by_count | tee "$work/split.log"
[[ $(wc -l < "$work/split/holdout.txt") == 45 ]] || fail "expected 45 probes"
[[ $(wc -l < "$work/split/train.txt") == 70 ]] || fail "expected 5x8 + 10x3 = 70 training images"
[[ $(wc -l < "$work/split/regular.txt") == 5 ]] || fail "expected 5 regular identities"
[[ -z $(comm -12 <(sort "$work/split/train.txt") <(sort "$work/split/holdout.txt")) ]] \
  || fail "a probe is also a training image"

# --roles drawn: the regular people change with the seed (every identity has 11 images, so all are
# eligible); --ur_validation_beyond_budget: each UR identity (3 + 3 probes + 1 <= 11) validates on
# an image beyond its 3, which neither fit.txt nor train.txt holds.
for seed in 1 2; do
  "$ftl" split --data "$work/faces" --out "$work/split_drawn$seed" --regular 5 --ur_images 3 --holdout 3 \
    --validation 1 --roles drawn --ur_validation_beyond_budget --seed $seed > "$work/split_drawn$seed.log" \
    || fail "ftl split --roles drawn failed: $(cat "$work/split_drawn$seed.log")"
done
[[ $(wc -l < "$work/split_drawn1/regular.txt") == 5 ]] || fail "drawn: expected 5 regular identities"
cmp -s "$work/split_drawn1/regular.txt" "$work/split_drawn2/regular.txt" && fail "drawn roles did not change with the seed"
cmp -s "$work/split_drawn1/regular.txt" "$work/split/regular.txt" && cmp -s "$work/split_drawn2/regular.txt" "$work/split/regular.txt" \
  && fail "drawn roles are the by-count ones for both seeds"
[[ $(grep -c ',ur,11,3,1,3,beyond_budget$' "$work/split_drawn1/identities.csv") == 10 ]] \
  || fail "drawn: expected 10 UR identities validated beyond their budget: $(cat "$work/split_drawn1/identities.csv")"
[[ -z $(comm -12 <(sort "$work/split_drawn1/fit.txt") <(sort "$work/split_drawn1/validation.txt")) ]] \
  || fail "a validation image is also fitted on"
grep -q "10 of them beyond the UR budget" "$work/split_drawn1.log" || fail "the split did not say how many: $(cat "$work/split_drawn1.log")"
# The defaults (--roles auto, --ur_validation_beyond_budget): drawn roles when --ur_images fakes
# the UR identities, validation beyond the budget.
"$ftl" split --data "$work/faces" --out "$work/split_default" --regular 5 --ur_images 3 --holdout 3 \
  --validation 1 > /dev/null
cmp -s "$work/split_default/regular.txt" "$work/split_drawn1/regular.txt" || fail "--roles auto did not draw the roles"
cmp -s "$work/split_default/identities.csv" "$work/split_drawn1/identities.csv" \
  || fail "the default split is not the drawn one with validation beyond the budget"

# pairs over the probes: LFW format, 5 folds (15 identities: disjoint by identity).
"$ftl" pairs --data "$work/faces" --manifest "$work/split/holdout.txt" --out "$work/pairs.txt" --folds 5 --per_fold 4
[[ $(head -1 "$work/pairs.txt") == $'5\t4' ]] || fail "pairs header: $(head -1 "$work/pairs.txt")"
[[ $(wc -l < "$work/pairs.txt") == 41 ]] || fail "expected 1 + 5 x 8 lines"

# The experiment: all fourteen variants (--variants all, the default), the quick grid (2 candidates
# each), 2 seeds, tiny budget (30,1,10: RS = 10).
"$ftl" experiment --data "$work/faces" --out "$work/exp" --regular 5 --ur_images 3 --holdout 3 --validation 1 \
  --budget 30,1,10 --input_size 32 --batch_size 8 --threads 1 --worker_binary "$worker" --folds 5 \
  --seeds 1,2 --grid quick > "$work/experiment.log" 2>&1 || { tail -30 "$work/experiment.log"; fail "ftl experiment failed"; }
tail -22 "$work/experiment.log"
csv="$work/exp/results.csv"
[[ $(head -1 "$csv") == variant,reg_rank1_f,ur_rank1_f,reg_rank1_g,ur_rank1_g,verif_acc,* ]] \
  || fail "results.csv header: $(head -1 "$csv")"
[[ $(cut -d, -f1 "$csv" | tail -n +2 | tr '\n' ' ') == \
   "softmax softmax_ml2 softmax_ml2_continued softmax_ml2_images softmax_ml2_steps softmax_ml2_cb softmax_ml2_cbloss softmax_ml2_la ftl_no_transfer ftl_second_ur ftl_center ftl_center_noise ftl_random_basis ftl " ]] \
  || fail "variants: $(cat "$csv")"
# Every metric a number in [0, 1] (the probes and pairs were really evaluated), means over the
# two seeds' rows of results_seeds.csv, and standard errors beside them.
/usr/bin/python3 - "$csv" "$work/exp/results_seeds.csv" <<'PY' || fail "results.csv / results_seeds.csv values"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
seeds = list(csv.DictReader(open(sys.argv[2])))
assert len(seeds) == 28, len(seeds)
for r in rows:
    assert r["seeds"] == "2", r
    per = [s for s in seeds if s["variant"] == r["variant"]]
    assert sorted(s["seed"] for s in per) == ["1", "2"], per
    for k in ("reg_rank1_f", "ur_rank1_f", "reg_rank1_g", "ur_rank1_g", "verif_acc"):
        v = float(r[k])
        assert 0.0 <= v <= 1.0 and not math.isnan(v), (r["variant"], k, v)
        values = [float(s[k]) for s in per]
        assert abs(v - sum(values) / 2) < 1e-9, (r["variant"], k, v, values)
        assert abs(float(r[k + "_se"]) - abs(values[0] - values[1]) / 2) < 1e-9, (r["variant"], k)
PY
[[ $(wc -l < "$work/exp/tuning.csv") == 29 ]] || fail "expected 2 tuning runs for each of 14 variants"
grep -q "| ftl |" "$work/exp/results.md" || fail "no Markdown table"
grep -q "FTL minus each variant, paired by seed" "$work/exp/results.md" || fail "no paired differences"
grep -q "| softmax_ml2_cb | [-+]" "$work/exp/results.md" || fail "no paired row for the CB baseline"
grep -q "| variant | reg rank-1 f" "$work/experiment.log" || fail "table not printed"
# Progress over the whole experiment: 28 tuning + 28 final trainings, each line counting.
grep -q "experiment: 56 trainings planned" "$work/experiment.log" || fail "no plan: $(grep planned "$work/experiment.log")"
[[ $(grep -c "; run [0-9]*/56, about [0-9:]* left)" "$work/experiment.log") == 56 ]] \
  || fail "expected 56 progress lines: $(grep -c ' left)' "$work/experiment.log")"
grep -q "; run 56/56, about 0:00:00 left)" "$work/experiment.log" || fail "the last run was not 56/56"
# Tuning ran on its own seed (the largest final seed + 1), never a final one.
grep -q '"seed": "3"' "$work/exp/tune/ftl-0/config.json" || fail "tuning not on seed 3: $(grep seed "$work/exp/tune/ftl-0/config.json")"
grep -q "Tuning: 28 runs with seed 3" "$work/exp/results.md" || fail "results.md does not say how tuning ran"
# Tuning never saw the probes: its runs were evaluated on validation.txt.
grep -q validation.txt "$work/exp/tune/ftl-0/config.json" || fail "tuning not on the validation split"
grep -q holdout.txt "$work/exp/tune/ftl-0/config.json" && fail "tuning used the hold-out probes"
# The fair protocol: FTL (tuning and final) starts from softmax_ml2's model of the same split and
# seed, and the continued baselines from the same one.
grep -q '"init_checkpoint": ".*/tune/softmax_ml2-[01]/output/' "$work/exp/tune/ftl-0/config.json" \
  || fail "FTL's tuning does not start from softmax_ml2's tuned model"
for v in ftl ftl_no_transfer ftl_second_ur ftl_center ftl_center_noise ftl_random_basis softmax_ml2_continued \
  softmax_ml2_images softmax_ml2_steps softmax_ml2_cb softmax_ml2_cbloss softmax_ml2_la; do
  grep -q '"init_checkpoint": ".*/runs/softmax_ml2/seed2/output/' "$work/exp/runs/$v/seed2/config.json" \
    || fail "$v seed 2 does not start from softmax_ml2's seed-2 model"
done
grep -q "model weights from .*/runs/softmax_ml2/seed1/output/" "$work/exp/runs/ftl/seed1/log.txt" \
  || fail "the FTL worker did not start from softmax_ml2's model"
grep -q '"stage1_third_batch": "none"' "$work/exp/runs/ftl_no_transfer/seed1/config.json" || fail "ablation keeps the transfer"
grep -q '"pretrain_sampling": "class_balanced"' "$work/exp/runs/softmax_ml2_cb/seed1/config.json" || fail "CB not class-balanced"
grep -q '"logit_adjust_tau"' "$work/exp/runs/softmax_ml2_la/seed1/config.json" || fail "LA without tau"
grep -q '"class_balanced_beta": 0.99' "$work/exp/runs/softmax_ml2_cbloss/seed1/config.json" || fail "the CB loss without its beta"
grep -q '"class_balanced_beta"' "$work/exp/runs/softmax_ml2_cb/seed1/config.json" && fail "CB resampling also got the CB loss"
grep -q 'sfmx_transfer' "$work/exp/runs/ftl/seed1/output/summary.json" || fail "FTL trained no transferred batch"
grep -q 'sfmx_transfer' "$work/exp/runs/ftl_no_transfer/seed1/output/summary.json" && fail "the ablation transferred"
# Each control trains its own third batch, and the continued baselines their own length.
for v in ftl_second_ur:ur ftl_center:center ftl_center_noise:center_noise ftl_random_basis:random_basis; do
  grep -q "\"stage1_third_batch\": \"${v#*:}\"" "$work/exp/runs/${v%%:*}/seed1/config.json" || fail "${v%%:*} is not ${v#*:}"
  grep -q 'sfmx_third' "$work/exp/runs/${v%%:*}/seed1/output/summary.json" || fail "${v%%:*} trained no third batch"
done
for v in softmax_ml2_continued:20 softmax_ml2_images:30 softmax_ml2_steps:40 softmax_ml2_cb:20 softmax_ml2_cbloss:20; do
  grep -q "\"pretrain_iterations\": \"${v#*:}\"" "$work/exp/runs/${v%%:*}/seed1/config.json" \
    || fail "${v%%:*} does not train ${v#*:} iterations"
done
# The work table: FTL's steps per part and images (RS = 10; 2 ranks x 8 images per step).
grep -q "| ftl | 20 | 10 | 40 | 40 | 480 |" "$work/exp/results.md" || fail "no work row for ftl: $(grep -A16 'Work of' "$work/exp/results.md")"
grep -q "| softmax_ml2_steps | 40 | 40 | 40 | 40 | 640 |" "$work/exp/results.md" || fail "no work row for softmax_ml2_steps"
for f in fig1b_weight_norms fig1b_stage1 fig4a_center_error fig6_centers fig7_transfer fig8_interpolation; do
  png="$work/exp/runs/ftl/analysis/$f.png"
  [[ -s $png ]] || fail "$f.png missing"
  [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$f.png is not a PNG"
done
[[ $(wc -l < "$work/exp/runs/ftl/analysis/weight_norms.csv") == 16 ]] || fail "weight_norms.csv rows"
[[ $(wc -l < "$work/exp/runs/ftl/seed1/output/weight_norms_stage1_r0_before.csv") == 16 ]] || fail "stage-1 norms rows"

# ftl eval on the FTL run's checkpoint folder: the same probes give the same rank-1. Its --out
# has a quote and a $(...): it must reach the tools as a path, never a shell.
evalout="$work/e'\$(touch $work/pwned)'x"
"$ftl" eval --config "$work/exp/runs/ftl/seed1/config.json" --checkpoint "$work/exp/runs/ftl/seed1/output" \
  --out "$evalout" > "$work/eval.log" 2>&1 || { cat "$work/eval.log"; fail "ftl eval failed"; }
[[ ! -e $work/pwned ]] || fail "ftl eval ran a shell command from --out"
/usr/bin/python3 - "$evalout/eval.json" "$work/exp/results_seeds.csv" <<'PY' || fail "ftl eval disagrees with the experiment"
import csv, json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
ftl = [r for r in csv.DictReader(open(sys.argv[2])) if r["variant"] == "ftl" and r["seed"] == "1"][0]
assert abs(metrics["holdout_rank1_ur_f"] - float(ftl["ur_rank1_f"])) < 1e-9, (metrics, ftl)
assert abs(metrics["verif_acc_f"] - float(ftl["verif_acc"])) < 1e-9, (metrics, ftl)
PY
[[ -s $evalout/fig7_transfer.png ]] || fail "ftl eval made no pictures"

# The same folder packed as InsightFace RecordIO: same split, and a worker trains from it.
"$ftl" pack --data "$work/faces" --out "$work/faces.rec"
[[ -s $work/faces.idx ]] || fail "ftl pack wrote no .idx"
"$ftl" split --data "$work/faces.rec" --out "$work/split_rec" --regular 5 --ur_images 3 --holdout 3 --validation 1
[[ $(wc -l < "$work/split_rec/train.txt") == 70 ]] || fail "RecordIO split: expected 70 training images"
grep -q '^#' "$work/split_rec/train.txt" || fail "RecordIO manifests name #keys"
# FTL alone brings softmax_ml2 (its starting model); the --out path has a quote and a $(...).
recout="$work/exp'\$(touch $work/pwned2)'rec"
"$ftl" experiment --data "$work/faces.rec" --out "$recout" --regular 5 --ur_images 3 --holdout 3 \
  --validation 1 --budget 10,1,5 --input_size 32 --batch_size 8 --threads 1 --worker_binary "$worker" \
  --folds 5 --variants ftl --tune=false --seeds 3,4 --ranks 1 --jobs 2 > "$work/experiment_rec.log" 2>&1 \
  || { tail -20 "$work/experiment_rec.log"; fail "ftl experiment on RecordIO failed"; }
[[ ! -e $work/pwned2 ]] || fail "ftl experiment ran a shell command from --out"
[[ $(cut -d, -f1 "$recout/results.csv" | tail -n +2 | tr '\n' ' ') == "softmax_ml2 ftl " ]] \
  || fail "RecordIO experiment rows: $(cat "$recout/results.csv")"
[[ $(wc -l < "$recout/results_seeds.csv") == 5 ]] || fail "RecordIO experiment: expected 2 variants x 2 seeds"
# Two splits (--splits 2: split seeds 5 and 6, each in its own folder), and the tables over them:
# checked against each split's own results.csv in Python.
"$ftl" experiment --data "$work/faces" --out "$work/exp_splits" --regular 5 --ur_images 3 --holdout 3 \
  --validation 1 --budget 10,1,5 --input_size 32 --batch_size 8 --threads 1 --worker_binary "$worker" \
  --folds 5 --variants ftl --tune=false --seed 5 --seeds 1,2 --splits 2 --ranks 1 --jobs 2 \
  > "$work/experiment_splits.log" 2>&1 || { tail -20 "$work/experiment_splits.log"; fail "ftl experiment --splits 2 failed"; }
cmp -s "$work/exp_splits/split5/split/regular.txt" "$work/exp_splits/split6/split/regular.txt" \
  && fail "--splits 2 drew the same regular identities twice"
/usr/bin/python3 - "$work/exp_splits" <<'PY' || fail "results_splits.csv disagrees with the splits' results"
import csv, math, statistics, sys
out = sys.argv[1]
rows = {(r["variant"], r["column"]): r for r in csv.DictReader(open(out + "/results_splits.csv"))}
per = [{r["variant"]: r for r in csv.DictReader(open("%s/split%d/results.csv" % (out, s)))} for s in (5, 6)]
for column in ("ur_rank1_f", "reg_rank1_f", "verif_acc"):
    means = {v: [float(p[v][column]) for p in per] for v in ("softmax_ml2", "ftl")}
    r = rows[("ftl", column)]
    assert abs(float(r["mean_over_splits"]) - sum(means["ftl"]) / 2) < 1e-9, (column, r, means)
    assert abs(float(r["se_over_splits"]) - statistics.stdev(means["ftl"]) / math.sqrt(2)) < 1e-9, (column, r)
    d = [a - b for a, b in zip(means["ftl"], means["softmax_ml2"])]
    r = rows[("softmax_ml2", column)]
    assert abs(float(r["ftl_minus_over_splits"]) - sum(d) / 2) < 1e-9, (column, r, d)
    assert int(r["ftl_higher_splits"]) == sum(x > 0 for x in d), (column, r, d)
    seeds = [list(csv.DictReader(open("%s/split%d/results_seeds.csv" % (out, s)))) for s in (5, 6)]
    runs = [float(a[column]) - float(b[column]) for ss in seeds
            for a in ss if a["variant"] == "ftl" for b in ss if b["variant"] == "softmax_ml2" and b["seed"] == a["seed"]]
    assert len(runs) == 4, runs
    assert abs(float(r["ftl_minus_over_runs"]) - sum(runs) / 4) < 1e-9, (column, r, runs)
PY
grep -q "FTL minus each variant, paired by split" "$work/exp_splits/results_splits.md" || fail "no paired table over splits"
# A baseline alone needs no softmax_ml2 model. No --budget: sized from the split (70 training
# images, 20 epochs at 1 rank x 8 = 175 iterations, raised to the minimum of 300).
"$ftl" experiment --data "$work/faces" --out "$work/exp_softmax" --regular 5 --ur_images 3 --holdout 3 \
  --validation 1 --input_size 32 --batch_size 8 --ranks 1 --threads 1 --worker_binary "$worker" \
  --folds 5 --variants softmax --tune=false --seeds 1 > "$work/experiment_softmax.log" 2>&1 \
  || { tail -20 "$work/experiment_softmax.log"; fail "ftl experiment --variants softmax failed"; }
[[ $(cut -d, -f1 "$work/exp_softmax/results.csv" | tail -n +2) == softmax ]] || fail "softmax-only rows"
grep -q -- "--budget auto: 300,2,100 " "$work/experiment_softmax.log" \
  || fail "the automatic budget was not printed as 300,2,100: $(grep budget "$work/experiment_softmax.log")"
grep -q '"pretrain_iterations": "300"' "$work/exp_softmax/runs/softmax/seed1/config.json" \
  || fail "the automatic budget did not reach the run: $(cat "$work/exp_softmax/runs/softmax/seed1/config.json")"

# "ArcFace vs ArcFace + FTL" on an IResNet: the base is the head alone (no m-L2), the continued
# baselines are named after it, every run's config says so, and the decoded pictures are skipped.
"$ftl" experiment --data "$work/faces" --out "$work/exp_arc" --regular 5 --ur_images 3 --holdout 3 \
  --validation 1 --budget 6,1,3 --backbone iresnet18 --input_size 16 --head arcface --batch_size 8 \
  --threads 1 --worker_binary "$worker" --folds 5 --variants ftl,softmax_ml2_cb --tune=false --seeds 1 \
  --ranks 1 --jobs 2 > "$work/experiment_arc.log" 2>&1 \
  || { tail -20 "$work/experiment_arc.log"; fail "ftl experiment --head arcface failed"; }
[[ $(cut -d, -f1 "$work/exp_arc/results.csv" | tail -n +2 | tr '\n' ' ') == "arcface arcface_cb ftl " ]] \
  || fail "ArcFace experiment rows: $(cat "$work/exp_arc/results.csv")"
/usr/bin/python3 - "$work/exp_arc/runs" <<'PY' || fail "ArcFace experiment configs"
import json, sys
for variant, method in (("arcface", "softmax"), ("arcface_cb", "softmax"), ("ftl", "ftl")):
    spec = json.load(open("%s/%s/seed1/config.json" % (sys.argv[1], variant)))
    assert spec["model"]["backbone"] == "iresnet18", spec["model"]
    assert spec["loss"]["head"] == "arcface" and "alphaReg" not in spec["loss"], spec["loss"]
    assert spec["training"]["method"] == method, (variant, spec["training"])
PY
grep -q "no decoder" "$work/experiment_arc.log" || fail "the ArcFace experiment did not say why it drew no decodings"

# Bad requests: exit 2 and say why.
expect_usage() {
  local want=$1; shift
  set +e; out=$("$ftl" "$@" 2>&1); rc=$?; set -e
  [[ $rc == 2 ]] || fail "ftl $* exited $rc, expected 2: $out"
  grep -q -- "$want" <<< "$out" || fail "ftl $*: message lacks '$want': $out"
}
expect_usage "unknown variant" experiment --data "$work/faces" --out "$work/x" --holdout 3 --variants ftl,magic
expect_usage "only 15 identities" split --data "$work/faces" --out "$work/x" --regular 16
expect_usage "budget" experiment --data "$work/faces" --out "$work/x" --holdout 3 --budget 10,2
expect_usage "given twice" experiment --data "$work/faces" --out "$work/x" --holdout 3 --seeds 1,1
expect_usage "grid" experiment --data "$work/faces" --out "$work/x" --holdout 3 --grid huge
expect_usage "splits" experiment --data "$work/faces" --out "$work/x" --holdout 3 --splits 0
expect_usage "is one of the final --seeds" experiment --data "$work/faces" --out "$work/x" --holdout 3 --seeds 1,2 --tuning_seed 2
expect_usage "head" experiment --data "$work/faces" --out "$work/x" --holdout 3 --head sphereface
expect_usage "unknown variant 'arcface_foo'" experiment --data "$work/faces" --out "$work/x" --holdout 3 --head arcface --variants arcface_foo,softmax_ml2_la
expect_usage "usage: ftl split" split extra
expect_usage "put .experiment. first" --json experiment
# The client stays small: the tools that need LibTorch run in ftl_tools.
! ldd "$ftl" | grep -q libtorch || fail "ftl links LibTorch"
expect_usage "NAME.rec" pack --data "$work/faces" --out "$work/faces.tar"
echo "PASS"
