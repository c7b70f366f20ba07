#!/usr/bin/python3
"""An InsightFace-style verification .bin from an LFW-format pairs file and its images.

  /usr/bin/python3 scripts/pairs_to_bin.py --pairs ../shared/data/lfw/pairsDevTest.txt \\
      --images ../shared/data/lfw/lfw-deepfunneled --out lfw_devtest.bin

The file is what InsightFace's verification sets (lfw.bin, cfp_fp.bin, ...) are: a pickle of
(list of encoded images, list of bool), images 2k and 2k+1 forming pair k, in the pairs file's
order (so LFW's folds are the .bin's 10 contiguous folds). Image k of a name is
IMAGES/name/name_000k.jpg, as in LFW.
"""
import argparse
import os
import pickle


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", required=True, help="LFW-format pairs file")
    parser.add_argument("--images", required=True, help="root of the images it names")
    parser.add_argument("--out", required=True, help="the .bin to write")
    parser.add_argument("--protocol", type=int, default=4, help="pickle protocol (InsightFace: 2 or 4)")
    args = parser.parse_args()
    lines = [l.split() for l in open(args.pairs).read().splitlines()]
    lines = [l for l in lines if len(l) in (3, 4)]  # the header has 1 or 2 fields

    def image(name, k):
        with open(os.path.join(args.images, name, "%s_%04d.jpg" % (name, int(k))), "rb") as f:
            return f.read()

    images, same = [], []
    for l in lines:
        if len(l) == 3:
            images += [image(l[0], l[1]), image(l[0], l[2])]
        else:
            images += [image(l[0], l[1]), image(l[2], l[3])]
        same.append(len(l) == 3)
    with open(args.out + ".partial", "wb") as f:
        pickle.dump((images, same), f, protocol=args.protocol)
    os.replace(args.out + ".partial", args.out)
    print("%s: %d pairs (%d same), %d images" % (args.out, len(same), sum(same), len(images)))


if __name__ == "__main__":
    main()
