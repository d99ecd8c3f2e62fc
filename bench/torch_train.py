"""PyTorch's training rate on this machine, for `npm run bench` (bench/train.ts) to print
beside ichdet's: images/s of full Adam steps (forward, BCE-with-logits loss on 6 outputs,
backward, Adam lr 1e-4) at the same input size and batch as ichdet's train bench, random
weights and inputs, one warm-up step then the timed steps, on `--threads` intra-op threads.

Xception is not in torchvision; `xception()` below builds the Keras graph (Chollet 2017:
entry flow, 8 middle blocks, exit flow; separable convolutions without a nonlinearity
between the depthwise and pointwise parts, batch norm after each). InceptionV3 runs without
its auxiliary classifier (ichdet has none), so it needs at least 75 px.

    python3 bench/torch_train.py --arch resnet50 --size 128 --batch 32 --steps 2 --threads 2

Prints one JSON line: {"arch", "size", "batch", "threads", "images_per_s", "torch"}.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torchvision

OUTPUTS = 6


class SepConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )


class Block(nn.Module):
    """An Xception block: [ReLU] sepconv (ReLU sepconv)... [max pool], plus a shortcut."""

    def __init__(self, cin, couts, first_relu, pool):
        super().__init__()
        layers = []
        c = cin
        for i, co in enumerate(couts):
            if i > 0 or first_relu:
                layers.append(nn.ReLU())
            layers.append(SepConv(c, co))
            c = co
        if pool:
            layers.append(nn.MaxPool2d(3, 2, padding=1))
            self.skip = nn.Sequential(nn.Conv2d(cin, c, 1, stride=2, bias=False), nn.BatchNorm2d(c))
        else:
            self.skip = nn.Identity()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x) + self.skip(x)


def xception(num_classes):
    layers = [
        nn.Conv2d(3, 32, 3, stride=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        Block(64, [128, 128], False, True),
        Block(128, [256, 256], True, True),
        Block(256, [728, 728], True, True),
    ]
    layers += [Block(728, [728, 728, 728], True, False) for _ in range(8)]
    layers += [
        Block(728, [728, 1024], True, True),
        SepConv(1024, 1536), nn.ReLU(),
        SepConv(1536, 2048), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, num_classes),
    ]
    return nn.Sequential(*layers)


def build(arch):
    m = torchvision.models
    if arch == 'xception':
        return xception(OUTPUTS)
    if arch == 'inception_v3':
        return m.inception_v3(weights=None, aux_logits=False, init_weights=False,
                              num_classes=OUTPUTS)
    return getattr(m, arch)(weights=None, num_classes=OUTPUTS)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', required=True)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = build(a.arch).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1
    y = (torch.rand(a.batch, OUTPUTS) < 0.3).float()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    step()  # warm-up, as ichdet's bench does
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    rate = a.steps * a.batch / (time.perf_counter() - t0)
    print(json.dumps({'arch': a.arch, 'size': a.size, 'batch': a.batch, 'threads': a.threads,
                      'images_per_s': rate, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
