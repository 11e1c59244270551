"""PyTorch -> ONNX -> le4nn: each preset's architecture and a ResNet basic block, built in torch.nn (NCHW),
exported with torch.onnx.export (TorchScript exporter, dynamo=False), loaded with load_onnx: le4nn's
predict equals PyTorch's output (relative error as in helpers.py) at batch 1 and 37, on random and real
MNIST images."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX import needs the onnx package (pip install 'le4nn[onnx]')")
torch = pytest.importorskip("torch", reason="the PyTorch -> ONNX tests need torch")
nn = torch.nn

from le4nn import layers  # noqa: E402
from le4nn.cli.presets import build_preset  # noqa: E402
from le4nn.models import load_onnx  # noqa: E402
from tests.models.onnx.helpers import assert_close, image_batches, torch_to_onnx  # noqa: E402


class ViewFlatten(nn.Module):
    """``x.view(x.size(0), -1)``: exported as Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def randomize_batch_norms(module) -> None:
    """Running statistics and affine parameters away from their defaults, so they matter."""
    for bn in module.modules():
        if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)


def torch_preset(name: str) -> nn.Module:
    """The torch.nn twin of le4nn's preset ``name`` for 28x28x1 images and 10 classes (cli/presets.py)."""
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10), nn.Softmax(dim=1))
    if name == "lecture":
        return nn.Sequential(nn.Conv2d(1, 9, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), ViewFlatten(),
                             nn.Linear(9 * 14 * 14, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))
    widths, units = ((32, 48, 96), 128) if name == "cnn" else ((32, 64, 128), 256)
    stages, channels = [], 1
    for filters in widths:
        stages += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(filters)]
        channels = filters
    return nn.Sequential(*stages, nn.Flatten(), nn.Linear(channels * 3 * 3, units), nn.ReLU(),
                         nn.BatchNorm1d(units), nn.Dropout(0.3), nn.Linear(units, 10), nn.Softmax(dim=1))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (conv-bn-relu, conv-bn, residual add, relu) between a stem and a
    global-average-pooled classifier."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = torch.relu(y + x)
        return self.fc(torch.flatten(self.pool(y), 1))


def check_against_torch(module, model, mnist_images) -> None:
    for label, x in image_batches(mnist_images):
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        assert_close(model.predict(x, batch_size=64), expected, label)


@pytest.mark.parametrize("name", ["mlp", "lecture", "cnn", "cnn-wide"])
def test_preset_architecture_from_pytorch(name, tmp_path, mnist_test_images):
    torch.manual_seed(0)
    module = torch_preset(name)
    randomize_batch_norms(module)
    model = load_onnx(torch_to_onnx(module, np.zeros((1, 1, 28, 28), np.float32), tmp_path / f"{name}.onnx"))
    # The same architecture as le4nn's preset: the same number of weights, the same layer kinds.
    assert model.count_params() == build_preset(name, (28, 28, 1), 10).count_params()
    assert model.input_shape == (None, 1, 28, 28)
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D)):
            assert layer.data_format == "channels_first"
    if name.startswith("cnn"):
        norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
        assert [layer.axis for layer in norms] == [1, 1, 1, -1]
    check_against_torch(module, model, mnist_test_images)


@pytest.mark.parametrize("fold", [True, False], ids=["constant-folding", "no-folding"])
def test_resnet_basic_block_from_pytorch(fold, tmp_path, mnist_test_images):
    torch.manual_seed(1)
    module = BasicBlock()
    randomize_batch_norms(module)
    path = torch_to_onnx(module, np.zeros((1, 1, 28, 28), np.float32), tmp_path / "block.onnx",
                         do_constant_folding=fold)
    model = load_onnx(path)
    assert any(isinstance(layer, layers.Add) for layer in model.layers)
    check_against_torch(module, model, mnist_test_images)


def test_pytorch_weights_arrive_transposed_bit_for_bit(tmp_path):
    torch.manual_seed(2)
    module = nn.Sequential(nn.Conv2d(1, 3, (2, 3), padding=(1, 0)), nn.Flatten(), nn.Linear(3 * 29 * 26, 5))
    model = load_onnx(torch_to_onnx(module, np.zeros((1, 1, 28, 28), np.float32), tmp_path / "m.onnx"))
    conv, dense = (layer for layer in model.layers if layer.weight_names)
    w = module[0].weight.detach().numpy()
    assert np.array_equal(conv.get_weights()[0], w.transpose(2, 3, 1, 0))
    assert np.array_equal(conv.get_weights()[1], module[0].bias.detach().numpy())
    assert np.array_equal(dense.get_weights()[0], module[2].weight.detach().numpy().T)
    assert conv.padding == (1, 1, 0, 0)
