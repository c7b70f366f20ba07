#!/usr/bin/python3
"""Plots of `ftl eval`: Fig. 1b (classifier weight norm vs images per identity) and Fig. 4a
(centre-estimation error of PickOne / AvgAll / AvgFlip vs images used).

Usage: ftl_plots.py --weight_norms weight_norms.csv --center_error center_error.csv
                    [--stage1_norms BEFORE.csv AFTER.csv] --out DIR
Any input may be omitted. --stage1_norms plots Fig. 1b per class before and after FTL's stage 1
(fig1b_stage1.png). Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def scatter_weight_norms(ax, rows):
    """Fig. 1b's points, regular and under-represented classes apart, on a log image axis."""
    for flag, label, colour in (("1", "regular", "tab:blue"), ("0", "under-represented", "tab:red")):
        xs = [int(r["images"]) for r in rows if r["regular"] == flag]
        ys = [float(r["weight_norm"]) for r in rows if r["regular"] == flag]
        if xs:
            ax.scatter(xs, ys, s=12, c=colour, label=f"{label} ({len(xs)})", alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training images of the identity")


def plot_weight_norms(path, out):
    rows = read_rows(path)
    if not rows:
        print(f"ftl_plots: {path}: no classes, no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    scatter_weight_norms(ax, rows)
    ax.set_ylabel("classifier weight norm ||w_j||")
    ax.set_title("Fig. 1b: weight norm vs images per identity")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_stage1_norms(before_path, after_path, out):
    before = read_rows(before_path)
    after = read_rows(after_path)
    if not before or not after:
        print(f"ftl_plots: {before_path} / {after_path}: no classes, no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, rows, title in ((axes[0], before, "before stage 1"), (axes[1], after, "after stage 1")):
        scatter_weight_norms(ax, rows)
        ax.set_title(f"Fig. 1b per class, {title}")
        ax.legend()
    axes[0].set_ylabel("classifier weight norm ||w_j||")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_center_error(path, out):
    rows = read_rows(path)
    if not rows:
        print(f"ftl_plots: {path}: no regular class has two images or more, no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    names = {"pick_one": "PickOne", "avg_all": "AvgAll", "avg_flip": "AvgFlip"}
    for method, label in names.items():
        pts = sorted((int(r["images"]), float(r["mean_error"]), float(r["std_error"]))
                     for r in rows if r["method"] == method)
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                        marker="o", capsize=3, label=label)
    classes = max(int(r["classes"]) for r in rows)
    ax.set_xlabel("images used for the estimate")
    ax.set_ylabel("1 - cos(estimate, centre of all images)")
    ax.set_title(f"Fig. 4a: centre-estimation error (up to {classes} regular classes)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight_norms")
    parser.add_argument("--center_error")
    parser.add_argument("--stage1_norms", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.weight_norms:
        plot_weight_norms(args.weight_norms, os.path.join(args.out, "fig1b_weight_norms.png"))
    if args.stage1_norms:
        plot_stage1_norms(args.stage1_norms[0], args.stage1_norms[1],
                          os.path.join(args.out, "fig1b_stage1.png"))
    if args.center_error:
        plot_center_error(args.center_error, os.path.join(args.out, "fig4a_center_error.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
