#!/usr/bin/env python3
"""Writes the fixtures of Surgeon's ONNX and PyTorch importers (tests/fixtures/import/) with a tool other than Surgeon.

Needs Debian's python3-torch (1.13: it has torch.onnx.export and torch.save); run from the repository root:

    apt-get install -y python3-torch
    python3 scripts/make-import-fixtures.py

Every model reads 1x28x28 inputs (the digits dataset's shape) and gives 10 logits, so `--data digits` serves them all.
Weights are random (seed 0) and every BatchNorm gets random statistics and affine parameters, so a BatchNorm that an
importer ignored or applied in training mode changes the logits. Per model NAME:

    NAME.onnx          torch.onnx.export, opset 13, batch dimension symbolic ("batch")
    NAME.logits.npy    the model's eval-mode logits on input.npy, computed here by PyTorch
    input.npy          4 fixed inputs, float32 [4, 1, 28, 28], shared by every model

and for the state-dict fixtures (registry-shaped: the parameter names and forward of Surgeon's registry models)

    mlpnet.pt, lenet5-w0.25.pt   torch.save(model.state_dict()) (the zip format of torch >= 1.6)
    mlpnet.logits.npy, lenet5-w0.25.logits.npy
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join("tests", "fixtures", "import")
OPSET = 13


def randomise_norms(model):
    """BatchNorm statistics and affine parameters far from their 0/1 defaults."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


class Mlp(nn.Module):
    """Reshape (to [-1, 784]), Gemm, ReLU, MatMul + Add (a hand-written linear), Tanh, Gemm."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 32)
        self.w2 = nn.Parameter(torch.randn(32, 24) / 32 ** 0.5)
        self.b2 = nn.Parameter(torch.randn(24) * 0.1)
        self.fc3 = nn.Linear(24, 10)

    def forward(self, x):
        x = x.reshape(-1, 784)
        x = F.relu(self.fc1(x))
        x = torch.tanh(torch.matmul(x, self.w2) + self.b2)
        return self.fc3(x)


class LeNetBn(nn.Module):
    """Conv (bias) + BatchNormalization + Relu + MaxPool twice, Flatten, Gemm, Relu, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 12, 5)
        self.bn2 = nn.BatchNorm2d(12)
        self.fc1 = nn.Linear(12 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """Stem, an identity block (its Add ties the stem's channels to the block's), a strided projection block, GAP."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class DepthwiseSeparable(nn.Module):
    """Conv, then depthwise (groups = channels, dilation 2) + BN + ReLU6 (Clip) and pointwise + BN + ReLU6, twice; GAP."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw1 = nn.Conv2d(8, 8, 3, 1, 2, dilation=2, groups=8, bias=False)
        self.dwbn1 = nn.BatchNorm2d(8)
        self.pw1 = nn.Conv2d(8, 16, 1, bias=False)
        self.pwbn1 = nn.BatchNorm2d(16)
        self.dw2 = nn.Conv2d(16, 16, 3, 2, 1, groups=16, bias=False)
        self.dwbn2 = nn.BatchNorm2d(16)
        self.pw2 = nn.Conv2d(16, 24, 1, bias=False)
        self.pwbn2 = nn.BatchNorm2d(24)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = F.relu6(self.bn1(self.conv1(x)))
        x = F.relu6(self.dwbn1(self.dw1(x)))
        x = F.relu6(self.pwbn1(self.pw1(x)))
        x = F.relu6(self.dwbn2(self.dw2(x)))
        x = F.relu6(self.pwbn2(self.pw2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ConcatNet(nn.Module):
    """Two branches (Conv + BN + LeakyRelu; a dilated, padded Conv + Sigmoid gate, Mul) joined by Concat, a Conv over
    the concatenation, AveragePool, a second Concat with a pooled skip, GlobalAveragePool, Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, 1, 1)
        self.abn = nn.BatchNorm2d(4)
        self.b = nn.Conv2d(1, 6, 3, 1, 2, dilation=2)
        self.mix = nn.Conv2d(10, 8, 3, 2, 1)
        self.fc = nn.Linear(8 + 10, 10)

    def forward(self, x):
        a = F.leaky_relu(self.abn(self.a(x)), 0.1)
        b = self.b(x)
        b = b * torch.sigmoid(b)
        ab = torch.cat([a, b], 1)
        y = F.relu(self.mix(ab))
        skip = F.avg_pool2d(ab, 2)
        y = torch.cat([F.avg_pool2d(y, 1), skip], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class RegistryMlpNet(nn.Module):
    """Surgeon's mlpnet (Models/MLPNet.cs): 784-40-20-10, ReLU, no biases; parameter names fc1, fc2, fc3."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 40, bias=False)
        self.fc2 = nn.Linear(40, 20, bias=False)
        self.fc3 = nn.Linear(20, 10, bias=False)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class RegistryLeNet5(nn.Module):
    """Surgeon's lenet5 (Models/LeNet5.cs) at width 0.25 on 1x28x28: conv 5@5x5, pool, conv 12@5x5, pool, fc 125, ReLU,
    fc 10, with biases (round(20·0.25) = 5, round(50·0.25) = 12 (half to even, as C#'s Math.Round), round(500·0.25) = 125)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 5, 5)
        self.conv2 = nn.Conv2d(5, 12, 5)
        self.fc1 = nn.Linear(12 * 4 * 4, 125)
        self.fc2 = nn.Linear(125, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2, 2)
        x = torch.flatten(F.max_pool2d(self.conv2(x), 2, 2), 1)
        return self.fc2(F.relu(self.fc1(x)))


def export_onnx(name, model, x):
    randomise_norms(model)
    model.eval()
    path = os.path.join(OUT, name + ".onnx")
    # PRESERVE with an eval-mode model keeps BatchNormalization nodes in inference mode; EVAL would fold each BN
    # into its conv, and an importer must meet both (the folded ones arrive as plain Convs).
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    with torch.no_grad():
        np.save(os.path.join(OUT, name + ".logits.npy"), model(x).numpy().astype(np.float32))
    print(f"{path}: {os.path.getsize(path):,} bytes")


def save_state_dict(name, model, x):
    model.eval()
    path = os.path.join(OUT, name + ".pt")
    torch.save(model.state_dict(), path)
    with torch.no_grad():
        np.save(os.path.join(OUT, name + ".logits.npy"), model(x).numpy().astype(np.float32))
    print(f"{path}: {os.path.getsize(path):,} bytes")


def main():
    if not os.path.isdir("scripts"):
        sys.exit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)
    np.save(os.path.join(OUT, "input.npy"), x.numpy().astype(np.float32))
    export_onnx("mlp", Mlp(), x)
    export_onnx("lenet-bn", LeNetBn(), x)
    export_onnx("resnet", ResNet(), x)
    export_onnx("dwsep", DepthwiseSeparable(), x)
    export_onnx("concat", ConcatNet(), x)
    save_state_dict("mlpnet", RegistryMlpNet(), x)
    save_state_dict("lenet5-w0.25", RegistryLeNet5(), x)


if __name__ == "__main__":
    main()
