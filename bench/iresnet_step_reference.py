#!/usr/bin/python3
"""PyTorch reference of the trainer's pre-training step on an IResNet, for bench/run.sh: the model
arcface_torch trains (scripts/iresnet_reference.py: its IResNet layer for layer) plus FTL's R (an
MLP) and the classifier, the ArcFace head as arcface_torch's CombinedMarginLoss computes it
(s 64, m 0.5), SGD (momentum 0.9, weight decay 5e-4, a poly schedule) with the gradient norm
clipped at 5, batch assembly from a uint8 tensor and the loss read out every step. Run it with
Debian's python3-torch (the LibTorch our CPU build links) or PyPI's torch.
Prints "parameters: N", "step_ms: T" and "images_per_s: R" like `ftl_bench step`.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from iresnet_reference import LAYOUTS, IResNet  # noqa: E402


def arcface_logits(cosine, labels, s=64.0, m=0.5):
    target = cosine[torch.arange(cosine.size(0)), labels]
    sin_theta = torch.sqrt((1.0 - target * target).clamp_min(1e-12))
    shifted = target * math.cos(m) - sin_theta * math.sin(m)
    margined = torch.where(target > math.cos(math.pi - m), shifted, target - math.sin(math.pi - m) * m)
    return cosine.scatter(1, labels.unsqueeze(1), margined.unsqueeze(1)) * s


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="iresnet18", choices=sorted(LAYOUTS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--images_per_class", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    a, _ = p.parse_known_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    n, size, d = a.classes * a.images_per_class, 112, 512
    images = (torch.rand(n, 3, size, size) * 255).to(torch.uint8)
    labels = torch.arange(a.classes).repeat_interleave(a.images_per_class)
    backbone = IResNet(LAYOUTS[a.preset], size, d)
    r = nn.Sequential(nn.Linear(d, d), nn.PReLU(d), nn.Linear(d, d))
    fc = nn.Linear(d, a.classes, bias=False)
    params = [p for m in (backbone, r, fc) for p in m.parameters()]
    trainable = [p for p in params if p.requires_grad]
    sgd = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, weight_decay=5e-4)
    order, pos, step_index = torch.randperm(n), 0, 0

    def step():
        nonlocal order, pos, step_index
        if pos + a.batch > n:
            order, pos = torch.randperm(n), 0
        index = order[pos:pos + a.batch]
        pos += a.batch
        x = images.index_select(0, index).float().div_(255.0)
        y = labels.index_select(0, index)
        for group in sgd.param_groups:  # arcface_torch's PolyScheduler, 1000 steps
            group["lr"] = 0.1 * (1 - step_index / 1000) ** 2
        f = r(backbone(x * 2.0 - 1.0))
        cosine = F.linear(F.normalize(f), F.normalize(fc.weight))
        loss = F.cross_entropy(arcface_logits(cosine, y), y)
        sgd.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 5)
        sgd.step()
        loss.item()
        step_index += 1

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.iterations):
        step()
    seconds = time.perf_counter() - start
    print("torch: %s" % torch.__version__)
    print("parameters: %d" % sum(p.numel() for p in params))
    print("step_ms: %.6g" % (1000 * seconds / a.iterations))
    print("images_per_s: %.6g" % (a.iterations * a.batch / seconds))


if __name__ == "__main__":
    main()
