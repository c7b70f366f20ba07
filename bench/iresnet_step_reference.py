#!/usr/bin/python3
"""PyTorch reference of the trainer's pre-training step on an IResNet, for bench/run.sh: the model
arcface_torch trains (scripts/iresnet_reference.py: its IResNet layer for layer) plus FTL's R (an
MLP) and the classifier, the ArcFace head as arcface_torch's CombinedMarginLoss computes it
(s 64, m 0.5), SGD (momentum 0.9, weight decay 5e-4, a poly schedule) with the gradient norm
clipped at 5, batch assembly from a uint8 tensor and the loss read out every step. Run it with
Debian's python3-torch (the LibTorch our CPU build links) or PyPI's torch.
Prints "parameters: N", "step_ms: T" and "images_per_s: R" like `ftl_bench step`.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from iresnet_reference import LAYOUTS, IResNet  # noqa: E402
from reference_steps import SyntheticBatches, parse_step_flags, time_steps  # noqa: E402


def arcface_logits(cosine, labels, s=64.0, m=0.5):
    target = cosine[torch.arange(cosine.size(0)), labels]
    sin_theta = torch.sqrt((1.0 - target * target).clamp_min(1e-12))
    shifted = target * math.cos(m) - sin_theta * math.sin(m)
    margined = torch.where(target > math.cos(math.pi - m), shifted, target - math.sin(math.pi - m) * m)
    return cosine.scatter(1, labels.unsqueeze(1), margined.unsqueeze(1)) * s


def main():
    a = parse_step_flags(__doc__, LAYOUTS, preset="iresnet18", iterations=5, warmup=2,
                         images_per_class=4, threads=2, ignore_unknown=True)
    size, d = 112, 512
    data = SyntheticBatches(a, 3, size)
    backbone = IResNet(LAYOUTS[a.preset], size, d)
    r = nn.Sequential(nn.Linear(d, d), nn.PReLU(d), nn.Linear(d, d))
    fc = nn.Linear(d, a.classes, bias=False)
    params = [p for m in (backbone, r, fc) for p in m.parameters()]
    trainable = [p for p in params if p.requires_grad]
    sgd = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, weight_decay=5e-4)
    step_index = 0

    def step():
        nonlocal step_index
        x, y = data.next()
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

    time_steps(step, a, params)


if __name__ == "__main__":
    main()
