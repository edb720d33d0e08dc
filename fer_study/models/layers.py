"""Building blocks shared by the model files: the input adapter and the papers' common blocks."""

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

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


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al. 2018) as pytorchcv's ``CbamBlock``.

    Channel gate: a shared MLP (C -> C/16 -> C, with biases) on the average- and max-pooled vectors,
    summed, sigmoid. Spatial gate: channel-max and channel-mean maps -> 7x7 conv (no bias) -> BN ->
    sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.channel_mlp = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
        )
        self.spatial_conv = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3, bias=False), nn.BatchNorm2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_logits = self.channel_mlp(x.mean(dim=(2, 3))) + self.channel_mlp(x.amax(dim=(2, 3)))
        x = x * torch.sigmoid(channel_logits)[:, :, None, None]
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial_conv(pooled))


class ResidualBlock(nn.Module):
    """ResEmoteNet's residual block: 3x3 conv (stride s) -> BN -> ReLU -> 3x3 conv -> BN, plus a
    1x1 conv + BN shortcut when the shape changes, ReLU after the sum. Convs carry biases, as in the
    paper's code."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _basic_block(in_channels: int, out_channels: int) -> BasicBlock:
    """A ResNet BasicBlock with the 1x1 conv + BN projection RMN adds whenever the width changes."""
    projection = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
    )
    return BasicBlock(in_channels, out_channels, downsample=projection)


class MaskingUNet(nn.Module):
    """RMN's masking block: a U-Net of ResNet BasicBlocks whose output is a softmax over channels.

    With C input channels and depth d, the encoder widens C -> 2C -> ... -> 2^d C with a 2x2 max-pool
    between levels, the decoder goes back up with 2x2 transposed convs (+BN+ReLU) and skip
    concatenations, and a last block maps 2C -> C. Initialisation as RMN: Kaiming (fan-out) convs, unit
    BN, and the last BN of every block set to zero.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        widths = [channels * 2**level for level in range(depth + 1)]
        self.encoder = nn.ModuleList(_basic_block(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2),
                nn.BatchNorm2d(widths[i]),
                nn.ReLU(inplace=True),
            )
            for i in reversed(range(1, depth))
        )
        self.decoder = nn.ModuleList(
            _basic_block(widths[i + 1], widths[i]) for i in reversed(range(1, depth))
        )
        self.output_block = _basic_block(widths[1], widths[0])
        self.pool = nn.MaxPool2d(2)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottom level has no skip partner
        for up, block in zip(self.up, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return torch.softmax(self.output_block(x), dim=1)


class SpatialTransformer(nn.Module):
    """EmoNeXt's spatial transformer: a small localisation CNN regresses an affine warp of the input.

    Localisation: 7x7 conv -> BN -> max-pool -> ReLU -> 5x5 conv -> BN -> max-pool -> ReLU, flattened
    into Linear(-> 32) -> ReLU -> Linear(-> 6) initialised to the identity warp. The flattened size
    follows from ``input_size`` (10 x 52 x 52 at the paper's 224).
    """

    def __init__(self, in_channels: int, input_size: int) -> None:
        super().__init__()
        self.localization = nn.Sequential(
            nn.Conv2d(in_channels, 8, 7),
            nn.BatchNorm2d(8),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 10, 5),
            nn.BatchNorm2d(10),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        side = ((input_size - 6) // 2 - 4) // 2
        self.regressor = nn.Sequential(
            nn.Linear(10 * side * side, 32), nn.ReLU(inplace=True), nn.Linear(32, 6)
        )
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Start from the identity warp (zero weights, identity bias on the last layer)."""
        nn.init.zeros_(self.regressor[2].weight)
        with torch.no_grad():
            self.regressor[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.regressor(self.localization(x)).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        return F.grid_sample(x, grid, align_corners=True)


class DotProductSelfAttention(nn.Module):
    """EmoNeXt's self-attention: LayerNorm, Q/K/V projections, scores scaled by d^(-1/4), softmax.

    Works on any (..., T, d) token set and returns ``(values + normalised input, weights)`` with
    weights (..., T, T). Fed the (N, d) batch matrix, as the paper's code does, the "tokens" are the
    samples of the batch; fed (N, T, d) per-sample tokens, every sample attends only to itself.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.norm(tokens)
        scores = self.query(tokens) @ self.key(tokens).transpose(-2, -1) / self.dim**0.25
        weights = torch.softmax(scores, dim=-1)
        return weights @ self.value(tokens) + tokens, weights


class ScaledDotAttention(nn.Module):
    """Keras ``layers.Attention(use_scale=True)`` used as self-attention: softmax(s * x x^T) x.

    No projections; one learned scalar ``s`` (initialised to 1). Over (..., T, d) tokens; given a 2-D
    (B, d) tensor, as PAtt-Lite does, the batch becomes the token axis.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.scale * tokens @ tokens.transpose(-2, -1), dim=-1)
        return weights @ tokens


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
