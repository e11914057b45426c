#!/usr/bin/env python3
"""The networks of throughput.rs in PyTorch: prints training images/s for one case.

    python3 throughput_torch.py CASE STEPS BATCH WARMUP
"""
import os
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count())))
torch.manual_seed(0)

CELL_EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
CELL_OPS = ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"]


def relu_conv_bn(cin, cout, k, stride):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ops = nn.ModuleList(
            relu_conv_bn(c, c, 3, 1) if op == "nor_conv_3x3" else nn.Identity() for op in CELL_OPS
        )

    def forward(self, x):
        nodes = [x, None, None, None]
        for (i, j), op in zip(CELL_EDGES, self.ops):
            out = op(nodes[i])
            nodes[j] = out if nodes[j] is None else nodes[j] + out
        return nodes[3]


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = relu_conv_bn(cin, cout, 3, 2)
        self.b = relu_conv_bn(cout, cout, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


class Nb201(nn.Module):
    def __init__(self, c, n, cin):
        super().__init__()
        layers = [nn.Conv2d(cin, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)]
        for s in range(3):
            if s > 0:
                layers.append(Reduction(c, 2 * c))
                c *= 2
            layers += [Cell(c) for _ in range(n)]
        self.body = nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, 10)

    def forward(self, x):
        return self.head(self.body(x))


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for cin, cout, s in [(3, 32, 1), (32, 64, 2), (64, 128, 2)]:
            layers += [nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.body(x))


CASES = {
    "nb201-C16-N5-32x32x3": (lambda: Nb201(16, 5, 3), (3, 32, 32)),
    "nb201-C16-N1-32x32x3": (lambda: Nb201(16, 1, 3), (3, 32, 32)),
    "nb201-C8-N1-28x28x1": (lambda: Nb201(8, 1, 1), (1, 28, 28)),
    "small-cnn-32x32x3": (SmallCnn, (3, 32, 32)),
}


def main(case, steps, batch, warmup):
    make, shape = CASES[case]
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, *shape)
    y = torch.arange(batch) % 10
    loss_fn = nn.CrossEntropyLoss()
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.item()
        loss.backward()
        opt.step()
    print(steps * batch / (time.perf_counter() - start))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
