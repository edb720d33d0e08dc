"""Building blocks shared by the model files: the input adapter and the papers' common blocks."""

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.models.resnet import Bottleneck, ResNet

Normalization = Literal["none", "imagenet", "symmetric"]
Fit = Literal["resize", "center_crop"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Keras BatchNormalization default; ported Keras models keep it so their outputs match.
KERAS_BN_EPS = 1e-3


class InputAdapter(nn.Module):
    """First layer of every model: brings a (N, 1, H, W) batch in [0, 1] to the paper's input.

    - ``size``: the paper's input side; ``None`` passes any size through (models ending in global
      pooling that run at the data's native resolution).
    - ``fit``: ``"resize"`` (bilinear, as ``cv2.resize`` / ``transforms.Resize`` in the papers) or
      ``"center_crop"`` (larger inputs are centre-cropped, smaller ones resized), for models trained on
      crops of the 48x48 image.
    - ``channels``: 3 repeats the gray channel, as the papers' ``Grayscale(3)`` / channel stacking do.
    - ``normalization``: ``"none"`` keeps [0, 1] (``ToTensor`` only), ``"imagenet"`` applies the
      ImageNet mean/std, ``"symmetric"`` maps to [-1, 1] (Keras ``x / 127.5 - 1``).
    """

    def __init__(
        self,
        size: int | None,
        channels: int = 1,
        normalization: Normalization = "none",
        fit: Fit = "resize",
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.size = size
        self.channels = channels
        self.normalization = normalization
        self.fit = fit
        if normalization == "imagenet":
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        elif normalization == "symmetric":
            mean, std = torch.full((3,), 0.5), torch.full((3,), 0.5)
        elif normalization == "none":
            mean, std = torch.zeros(3), torch.ones(3)
        else:
            raise ValueError(f"unknown normalization {normalization!r}")
        # A 1-channel model uses the first statistic only (all three are equal where that happens).
        self.register_buffer("mean", mean[:channels].view(1, channels, 1, 1), persistent=False)
        self.register_buffer("std", std[:channels].view(1, channels, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) gray batch, got shape {tuple(images.shape)}")
        x = self._fit_size(images)
        x = x.expand(-1, self.channels, -1, -1)
        return (x - self.mean) / self.std

    def _fit_size(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is None or x.shape[-2:] == (self.size, self.size):
            return x
        height, width = x.shape[-2:]
        if self.fit == "center_crop" and height >= self.size and width >= self.size:
            top, left = (height - self.size) // 2, (width - self.size) // 2
            return x[..., top : top + self.size, left : left + self.size]
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, channels={self.channels}, normalization={self.normalization}, fit={self.fit}"
        )


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False
) -> nn.Sequential:
    """Same-padded conv -> BN -> ReLU, the unit of the VGG-style stages."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def pad_same(x: torch.Tensor, kernel_size: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Keras/TensorFlow ``padding="same"``: output side ceil(n / stride), the odd pixel padded at the end.

    PyTorch's symmetric ``padding=`` cannot express the asymmetric case (e.g. a 3x3 stride-2 pool on
    an even side pads only bottom/right), which ported Keras weights and layouts need.
    """
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel_size - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class SamePadMaxPool2d(nn.Module):
    """Keras ``MaxPooling2D(padding="same")``."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d`` with Keras ``padding="same"`` (asymmetric where Keras pads asymmetrically)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, padding=0, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, self.kernel_size[0], self.stride[0]))


class SeparableConv2d(nn.Sequential):
    """Keras ``SeparableConv2D`` (depth multiplier 1): depthwise conv, then a 1x1 pointwise conv.

    ``same_padding`` follows Keras' "same"; otherwise "valid". Keras puts the optional bias on the
    pointwise conv only.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        same_padding: bool = True,
        bias: bool = False,
    ) -> None:
        conv = SamePadConv2d if same_padding else nn.Conv2d
        super().__init__()
        self.depthwise = conv(
            in_channels, in_channels, kernel_size, stride=stride, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)


class SqueezeExcitation(nn.Module):
    """SE block as ResEmoteNet and EmoNeXt write it: GAP -> FC C/r (no bias) -> ReLU -> FC C -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


def load_state_dict_file(module: nn.Module, path: str | Path, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load a local ``state_dict`` file (nothing is downloaded here) into ``module``.

    Keys starting with one of ``ignore_prefixes`` (e.g. an ImageNet classifier ``fc.``) are dropped;
    every other key must match exactly, so a wrong file fails loudly instead of loading half.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {key: value for key, value in state.items() if not key.startswith(ignore_prefixes)}
    module.load_state_dict(state, strict=True)


def resnet_trunk(depth: int, weights_path: str | Path | None = None) -> ResNet:
    """A torchvision ResNet-``depth`` without its classifier (``fc`` is the identity).

    ``weights_path``: a local torchvision ImageNet ``state_dict`` for the trunk (its ``fc.*`` keys are
    ignored). Nothing is downloaded: the papers' ImageNet weights cannot be fetched here, so without a
    path the trunk starts from torchvision's random initialisation.
    """
    builders = {18: models.resnet18, 34: models.resnet34, 50: models.resnet50}
    if depth not in builders:
        raise ValueError(f"ResNet depth must be one of {sorted(builders)}, got {depth}")
    trunk = builders[depth](weights=None)
    trunk.fc = nn.Identity()
    if weights_path is not None:
        load_state_dict_file(trunk, weights_path, ignore_prefixes=("fc.",))
    return trunk


def resnet_trunk_width(trunk: ResNet) -> int:
    """Channels of the trunk's last stage (512 for BasicBlock ResNets, 2048 for Bottleneck ones)."""
    last_block = trunk.layer4[-1]
    return (last_block.bn3 if isinstance(last_block, Bottleneck) else last_block.bn2).num_features
