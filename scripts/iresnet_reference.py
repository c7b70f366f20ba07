"""arcface_torch's IResNet and MobileFaceNet as that project writes them in PyTorch
(backbones/iresnet.py, backbones/mobilefacenet.py: the same layers, order, state_dict names and
initialisation), for checking ours against them.

  python3 scripts/iresnet_reference.py counts
      parameter counts of iresnet18/34/50/100 and mobilefacenet (get_mbf) at 112x112, 512 features
  python3 scripts/iresnet_reference.py compare MODULE.pt BACKBONE INPUT FEATURES
      loads an `ftl export` of a model (g) whose model.backbone is BACKBONE (iresnet18, ...,
      mobilefacenet; or an IResNet's blocks per stage, e.g. 2,2,2,2), puts its weights into this
      reference and checks both give the same embeddings for random images (exit 1 if not)
"""
import sys

import torch
from torch import nn

LAYOUTS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3],
           "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}
MBF_BLOCKS = (1, 4, 6, 2)  # get_mbf: blocks=(1, 4, 6, 2), scale=2
MBF_SCALE = 2


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


class ConvBlock(nn.Module):
    """mobilefacenet.py's ConvBlock: `layers` = conv (no bias), BatchNorm2d, PReLU per channel;
    with linear=True its LinearBlock (no PReLU)."""

    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1, linear=False):
        super().__init__()
        parts = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False),
                 nn.BatchNorm2d(cout)]
        if not linear:
            parts.append(nn.PReLU(cout))
        self.layers = nn.Sequential(*parts)

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    """1x1 expansion to `groups` channels, a 3x3 depthwise convolution (stride), a linear 1x1
    projection to `cout`; plus the input when residual."""

    def __init__(self, cin, cout, groups, stride, residual=False):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(cin, groups),
                                    ConvBlock(groups, groups, 3, stride, 1, groups),
                                    ConvBlock(groups, cout, linear=True))

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, channels, count, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(channels, channels, groups, 1, True) for _ in range(count)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    """Global depthwise convolution over the whole last map (7x7 at 112), flatten, a bias-free
    linear layer, BatchNorm1d."""

    def __init__(self, side, num_features):
        super().__init__()
        self.layers = nn.Sequential(ConvBlock(512, 512, side, groups=512, linear=True), nn.Flatten(),
                                    nn.Linear(512, num_features, bias=False), nn.BatchNorm1d(num_features))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, blocks=MBF_BLOCKS, scale=MBF_SCALE, input_size=112, num_features=512):
        super().__init__()
        c64, c128 = 64 * scale, 128 * scale
        second = (ConvBlock(c64, c64, 3, 1, 1, groups=64) if blocks[0] == 1
                  else Residual(c64, blocks[0], 128))
        self.layers = nn.ModuleList([
            ConvBlock(3, c64, 3, 2, 1), second,
            DepthWise(c64, c64, 128, 2), Residual(c64, blocks[1], 128),
            DepthWise(c64, c128, 256, 2), Residual(c128, blocks[2], 256),
            DepthWise(c128, c128, 512, 2), Residual(c128, blocks[3], 256)])
        self.conv_sep = ConvBlock(c128, 512)
        self.features = GDC(input_size // 16, num_features)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))


def build(backbone, input_size=112, num_features=512):
    """The reference for a model.backbone name, or for an IResNet's blocks per stage ("2,2,2,2")."""
    if backbone == "mobilefacenet":
        return MobileFaceNet(input_size=input_size, num_features=num_features)
    blocks = LAYOUTS.get(backbone) or [int(b) for b in backbone.split(",")]
    return IResNet(blocks, input_size, num_features)


def count(model):
    return sum(p.numel() for p in model.parameters())


def state_dict_from_export(module, reference):
    """`ftl export` names a parameter enc_<iresnet|mobilefacenet>_<module path with _>_<weight|
    bias|running_*>. A module name may hold an underscore itself (mbf's conv_sep), so each exported
    name is matched against the reference's state_dict keys written the same way."""
    prefix = "enc_mobilefacenet_" if isinstance(reference, MobileFaceNet) else "enc_iresnet_"
    keys = {prefix + key.replace(".", "_"): key for key in reference.state_dict()}
    out = {}
    for name, value in module.named_parameters():
        if name.startswith(prefix):
            out[keys.get(name, "unknown:" + name)] = value.detach()
    return out


def main():
    if sys.argv[1] == "counts":
        for name in list(LAYOUTS) + ["mobilefacenet"]:
            print(name, count(build(name)))
        return 0
    module_path, backbone, input_size, features = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    exported = torch.jit.load(module_path)
    reference = build(backbone, input_size, features).eval()
    state = state_dict_from_export(exported, reference)
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
