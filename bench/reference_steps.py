"""What bench/step_reference.py and bench/iresnet_step_reference.py share: the flags of
`ftl_bench step` they accept, a synthetic uint8 data set with its batch assembly, and the timing
loop with the output lines bench/run.sh reads ("parameters: N", "step_ms: T", "images_per_s: R").
"""
import argparse
import time

import torch


def parse_step_flags(description, presets, preset, iterations, warmup, images_per_class, threads,
                     ignore_unknown=False):
    """The step flags with this reference's defaults. Unknown flags are an error unless
    ignore_unknown (a reference that is passed flags of `ftl_bench step` it has no use for)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", default=preset, choices=sorted(presets))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=iterations)
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--images_per_class", type=int, default=images_per_class)
    p.add_argument("--threads", type=int, default=threads)
    a = p.parse_known_args()[0] if ignore_unknown else p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    return a


class SyntheticBatches:
    """classes x images_per_class random uint8 images, drawn in batches from a shuffled order as the
    trainer does (a new order when the next batch would run past the end), as floats in [0, 1]."""

    def __init__(self, a, channels, size):
        self.n, self.batch = a.classes * a.images_per_class, a.batch
        self.images = (torch.rand(self.n, channels, size, size) * 255).to(torch.uint8)
        self.labels = torch.arange(a.classes).repeat_interleave(a.images_per_class)
        self.order, self.pos = torch.randperm(self.n), 0

    def next(self):
        if self.pos + self.batch > self.n:
            self.order, self.pos = torch.randperm(self.n), 0
        index = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return (self.images.index_select(0, index).float().div_(255.0),
                self.labels.index_select(0, index))


def time_steps(step, a, params):
    """a.warmup untimed steps, then a.iterations timed ones; prints what bench/run.sh reads."""
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
