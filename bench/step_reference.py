#!/usr/bin/python3
"""PyTorch (Python) reference of the trainer's pre-training step, for bench/run.sh.

The same network as common/model/ftl_model.cc (preset "small" or "paper"), the same losses
(softmax + reconstruction + m-L2 as a mean over batch x classes, the default
loss.ml2_reduction), Adam, batch assembly from a uint8 image tensor, and the
same four loss read-outs per step, on Debian's python3-torch (the LibTorch the C++ build links).
Prints "parameters: N", "step_ms: T" and "images_per_s: R" like `ftl_bench step`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_steps import SyntheticBatches, parse_step_flags, time_steps

PRESETS = {
    "small": dict(input_size=64, channels=1, feature_dim=128, widths=[16, 32, 64, 96], convs=0, filter_width=32),
    "paper": dict(input_size=100, channels=3, feature_dim=320, widths=[64, 128, 192, 256], convs=1, filter_width=128),
}


def norm(channels):
    groups = min(8, channels)
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)


def conv3x3(cin, cout, stride, bias=True):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def deconv3x3(cin, cout, in_size, out_size, bias=True):
    pad = out_size - (2 * in_size - 1)
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=pad, bias=bias)


def map_sizes(shape):
    sizes = [shape["input_size"]]
    for _ in shape["widths"]:
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


class Encoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        layers, cin = [], s["channels"]
        for w in s["widths"]:
            for _ in range(s["convs"]):
                layers += [conv3x3(cin, w, 1, False), norm(w), nn.ELU()]
                cin = w
            layers += [conv3x3(cin, w, 2, False), norm(w), nn.ELU()]
            cin = w
        layers += [conv3x3(cin, s["feature_dim"], 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x * 2.0 - 1.0)


class Decoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        sizes, widths = map_sizes(s), s["widths"]
        self.base_width, self.base_size = widths[-1], sizes[-1]
        self.project = nn.Linear(s["feature_dim"], self.base_width * self.base_size ** 2)
        layers = [nn.ELU()]
        for stage in reversed(range(len(widths))):
            out = widths[stage - 1] if stage > 0 else widths[0]
            layers += [deconv3x3(widths[stage], out, sizes[stage + 1], sizes[stage], False), norm(out), nn.ELU()]
        layers += [conv3x3(widths[0], s["channels"], 1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, g):
        return self.body(self.project(g).view(g.size(0), self.base_width, self.base_size, self.base_size))


class Filter(nn.Module):
    def __init__(self, s):
        super().__init__()
        w = self.width = s["filter_width"]
        self.project = nn.Linear(s["feature_dim"], w * 16)
        self.body = nn.Sequential(nn.ELU(), deconv3x3(w, w // 2, 4, 8), nn.ELU(), deconv3x3(w // 2, w // 4, 8, 16),
                                  nn.ELU(), conv3x3(w // 4, w // 2, 2), nn.ELU(), conv3x3(w // 2, w, 2), nn.ELU(),
                                  nn.Flatten())
        self.out = nn.Linear(w * 16, s["feature_dim"])

    def forward(self, g):
        return self.out(self.body(self.project(g).view(g.size(0), self.width, 4, 4)))


def main():
    a = parse_step_flags(__doc__, PRESETS, preset="small", iterations=30, warmup=5,
                         images_per_class=20, threads=1)
    s = PRESETS[a.preset]
    data = SyntheticBatches(a, s["channels"], s["input_size"])
    enc, dec, filt = Encoder(s), Decoder(s), Filter(s)
    fc = nn.Linear(s["feature_dim"], a.classes, bias=False)
    params = [*enc.parameters(), *dec.parameters(), *filt.parameters(), *fc.parameters()]
    adam = torch.optim.Adam(params, lr=2e-4)

    def step():
        x, y = data.next()
        g = enc(x)
        logits = fc(filt(g))
        sfmx = F.nll_loss(F.log_softmax(logits, 1), y)
        recon = (dec(g) - x).pow(2).mean()
        reg = logits.pow(2).mean()
        total = sfmx * 1.0 + recon * 1.0 + reg * 0.25
        adam.zero_grad()
        total.backward()
        adam.step()
        for t in (sfmx, recon, reg, total):
            t.item()

    time_steps(step, a, params)


if __name__ == "__main__":
    main()
