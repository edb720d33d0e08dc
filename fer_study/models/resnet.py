"""Plain and CBAM ResNets: the Residual Masking Network ensemble's members (Pham, Vu, Tran, ICPR 2020;
https://github.com/phamquiluan/ResidualMaskingNetwork).

- ``resnet18``, ``resnet34``: torchvision ResNets with a 7-way ``fc`` (21.29 M parameters for
  ResNet34), as RMN's ``models/resnet.py``.
- ``cbam_resnet50``: ResNet50 with a CBAM block (Woo et al. 2018) in every bottleneck, applied to the
  residual branch after its last BN and before the addition, as pytorchcv's ``cbam_resnet50`` that RMN
  loads (26.05 M parameters with 7 classes; pytorchcv's own count is 28,089,624 with 1000 classes).

Input as RMN's pipeline: gray resized to 224, stacked to 3 channels, [0, 1] without mean/std.

Deliberate deviations:
- No ImageNet weights: RMN fine-tunes ImageNet-pretrained members, which cannot be downloaded here.
  ``weights_path`` loads a local torchvision ImageNet ``state_dict`` into the trunk instead; for
  ``cbam_resnet50`` that covers the ResNet50 part only (pytorchcv's CBAM-ResNet weights have another
  layout), the CBAM blocks start random.
- pytorchcv's CBAM-ResNet ends in a fixed 7x7 average pool; global average pooling here (identical at
  224).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from fer_study.core.constants import NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import InputAdapter, Normalization, resnet_trunk, resnet_trunk_width


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


@dataclass(frozen=True)
class ResNetConfig:
    depth: int = 34
    cbam: bool = False
    input_size: int = 224
    normalization: Normalization = "none"
    num_classes: int = NUM_CLASSES


def add_cbam_to_bottlenecks(trunk: nn.Module) -> None:
    """Put a CBAM block after the last BN of every bottleneck's residual branch (before the sum)."""
    for block in trunk.modules():
        if isinstance(block, Bottleneck):
            block.bn3 = nn.Sequential(block.bn3, CBAM(block.bn3.num_features))


class ResNetClassifier(nn.Module):
    def __init__(self, config: ResNetConfig, weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.config = config
        # Another input size or normalisation makes a variant that is never set against the paper's claim.
        default = ResNetConfig()
        self.paper_model = (config.input_size, config.normalization) == (default.input_size, default.normalization)
        self.input_size = config.input_size
        self.adapter = InputAdapter(config.input_size, channels=3, normalization=config.normalization)
        self.trunk = resnet_trunk(config.depth, weights_path)
        self.num_features = resnet_trunk_width(self.trunk)
        if config.cbam:
            add_cbam_to_bottlenecks(self.trunk)
        self.classifier = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.adapter(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(
    paper="Pham, Vu, Tran, Residual Masking Network, ICPR 2020",
    url="https://github.com/phamquiluan/ResidualMaskingNetwork",
    input_size=224,
)
def resnet18(weights_path: str | Path | None = None, **overrides) -> ResNetClassifier:
    """ResNet18 with a 7-way head (RMN ensemble member 1)."""
    return ResNetClassifier(ResNetConfig(depth=18, **overrides), weights_path)


@register_model(
    paper="Pham, Vu, Tran, Residual Masking Network, ICPR 2020",
    url="https://github.com/phamquiluan/ResidualMaskingNetwork",
    input_size=224,
)
def resnet34(weights_path: str | Path | None = None, **overrides) -> ResNetClassifier:
    """ResNet34 with a 7-way head (RMN's backbone and README baseline)."""
    return ResNetClassifier(ResNetConfig(depth=34, **overrides), weights_path)


@register_model(
    paper="Pham, Vu, Tran, Residual Masking Network, ICPR 2020",
    url="https://github.com/phamquiluan/ResidualMaskingNetwork",
    input_size=224,
)
def cbam_resnet50(weights_path: str | Path | None = None, **overrides) -> ResNetClassifier:
    """ResNet50 with CBAM in every bottleneck (RMN ensemble member 4)."""
    return ResNetClassifier(ResNetConfig(depth=50, cbam=True, **overrides), weights_path)
