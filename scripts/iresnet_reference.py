"""arcface_torch's IResNet as that project writes it in PyTorch (backbones/iresnet.py: the same
layers, order, state_dict names and initialisation), for checking ours against it.

  python3 scripts/iresnet_reference.py counts
      parameter counts of iresnet18/34/50/100 at 112x112, 512 features
  python3 scripts/iresnet_reference.py compare MODULE.pt BLOCKS INPUT FEATURES
      loads an `ftl export` of an IResNet model (g), puts its weights into this reference and
      checks both give the same embeddings for random images (exit 1 if not)
"""
import sys

import torch
from torch import nn

LAYOUTS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3],
           "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}


def conv(cin, cout, kernel, stride=1):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = conv(cin, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = conv(cout, cout, 3, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    def __init__(self, blocks, input_size=112, num_features=512):
        super().__init__()
        self.conv1 = conv(3, 64, 3)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks)):
            layer = []
            for b in range(count):
                layer.append(Block(cin, width, 2 if b == 0 else 1))
                cin = width
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*layer))
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=0, inplace=True)
        side = input_size // 16
        self.fc = nn.Linear(512 * side * side, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def count(model):
    return sum(p.numel() for p in model.parameters())


def state_dict_from_export(module):
    """`ftl export` names a parameter enc_iresnet_<module path with _>_<weight|bias|running_*>."""
    out = {}
    for name, value in module.named_parameters():
        if not name.startswith("enc_iresnet_"):
            continue
        rest = name[len("enc_iresnet_"):]
        for suffix in ("running_mean", "running_var", "weight", "bias"):
            if rest.endswith("_" + suffix):
                path = rest[: -len(suffix) - 1].replace("_", ".")
                out[path + "." + suffix] = value.detach()
                break
    return out


def main():
    if sys.argv[1] == "counts":
        for name, blocks in LAYOUTS.items():
            print(name, count(IResNet(blocks)))
        return 0
    module_path, blocks, input_size, features = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    blocks = [int(b) for b in blocks.split(",")]
    exported = torch.jit.load(module_path)
    reference = IResNet(blocks, input_size, features).eval()
    state = state_dict_from_export(exported)
    missing = set(k for k in reference.state_dict() if not k.endswith("num_batches_tracked")) - set(state)
    extra = set(state) - set(reference.state_dict())
    if missing or extra:
        print("FAIL: names differ: missing %s, extra %s" % (sorted(missing)[:5], sorted(extra)[:5]))
        return 1
    reference.load_state_dict(state, strict=False)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (4, 3, input_size, input_size), dtype=torch.uint8)
    with torch.no_grad():
        ours = exported(images)
        theirs = torch.nn.functional.normalize(reference(images.float() / 255.0 * 2.0 - 1.0))
    difference = (ours - theirs).abs().max().item()
    ours_count = sum(v.numel() for k, v in state.items() if "running" not in k)
    print("parameters: ours %d, reference %d; max embedding difference %.2e"
          % (ours_count, count(reference), difference))
    if ours_count != count(reference) or difference > 1e-4:
        print("FAIL")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
