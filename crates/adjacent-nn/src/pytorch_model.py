"""A network found by adjacent, exported with `adjacent export --format pytorch`.

It is the NAS-Bench-201 skeleton: a 3x3 stem, stages of cells (each cell a small DAG whose six
edges carry one operation each), a residual reduction block between stages that halves the size
and doubles the width, and a head of batch norm, ReLU, global average pooling and a linear layer.

    import model
    net = model.load("weights.safetensors")   # eval mode, the trained weights
    logits = net(images)                      # images: [batch, channels, height, width], pixels / 255

Needs torch and safetensors (pip install torch safetensors). The normalization adjacent trained
with is inside `forward`: feed pixels in [0, 1].
"""
import json

import torch
import torch.nn.functional as F
from torch import nn

# What adjacent found and trained: the genotype of every cell, the input and the normalization.
ARCH = json.loads(r"""
{ARCH}
""")

# The six edges of a cell, (from node, to node): node 0 is the cell's input, node 3 its output.
EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


class ReluConvBn(nn.Module):
    """ReLU, convolution (no bias), batch norm: the `nor_conv` operations."""

    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=ARCH["bn_epsilon"])

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class AvgPool3x3(nn.Module):
    """`avg_pool_3x3`: stride 1, the padded zeros not counted."""

    def forward(self, x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def edge(op, channels):
    if op == "nor_conv_3x3":
        return ReluConvBn(channels, channels, 3)
    if op == "nor_conv_1x1":
        return ReluConvBn(channels, channels, 1)
    if op == "avg_pool_3x3":
        return AvgPool3x3()
    if op in ("skip_connect", "none"):
        return nn.Identity()  # `none` edges are never run
    raise ValueError(f"unknown operation {op!r}")


class Cell(nn.Module):
    """Node j is the sum of the edges into it from the nodes before it that carry something."""

    def __init__(self, ops, channels):
        super().__init__()
        self.ops = list(ops)
        self.edges = nn.ModuleList(edge(op, channels) for op in ops)

    def forward(self, x):
        nodes = [x, None, None, None]
        for e, (i, j) in enumerate(EDGES):
            if nodes[i] is None or self.ops[e] == "none":
                continue
            out = self.edges[e](nodes[i])
            nodes[j] = out if nodes[j] is None else nodes[j] + out
        # A cell with no path from its input to its output computes zeros.
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class Reduction(nn.Module):
    """Between stages: two ReLU-conv-BN (the first of stride 2) beside a shortcut of 2x2 average
    pooling (ceil mode, so odd sizes halve as the strided conv does) and a 1x1 convolution."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = ReluConvBn(cin, cout, 3, stride=2)
        self.conv_b = ReluConvBn(cout, cout, 3)
        self.shortcut = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 2, stride=2, ceil_mode=True, count_include_pad=False)
        return self.conv_b(self.conv_a(x)) + self.shortcut(pooled)


class Network(nn.Module):
    def __init__(self, arch=ARCH):
        super().__init__()
        c = arch["channels"]
        widths = [c << s for s in range(len(arch["stages"]))]
        channels = arch["input_channels"]
        self.register_buffer("mean", torch.tensor(arch["mean"]).view(1, channels, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(arch["std"]).view(1, channels, 1, 1), persistent=False)
        self.stem_conv = nn.Conv2d(channels, c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c, eps=arch["bn_epsilon"])
        self.stages = nn.ModuleList(
            nn.ModuleList(Cell(ops, widths[s]) for ops in cells) for s, cells in enumerate(arch["stages"])
        )
        self.reductions = nn.ModuleList(Reduction(widths[s - 1], widths[s]) for s in range(1, len(widths)))
        self.head_bn = nn.BatchNorm2d(widths[-1], eps=arch["bn_epsilon"])
        self.classifier = nn.Linear(widths[-1], arch["classes"])

    def forward(self, images):
        x = (images - self.mean) / self.std
        x = self.stem_bn(self.stem_conv(x))
        for s, cells in enumerate(self.stages):
            if s > 0:
                x = self.reductions[s - 1](x)
            for cell in cells:
                x = cell(x)
        x = F.relu(self.head_bn(x))
        return self.classifier(x.mean(dim=(2, 3)))


def load(weights, device="cpu"):
    """The trained network in eval mode, its weights read from the safetensors file `weights`."""
    from safetensors.torch import load_file

    net = Network()
    net.load_state_dict(load_file(weights, device=device))
    return net.to(device).eval()
