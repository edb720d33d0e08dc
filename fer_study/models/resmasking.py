"""Residual Masking Network, ``resmasking_dropout1`` (Pham, Vu, Tran, ICPR 2020;
https://github.com/phamquiluan/ResidualMaskingNetwork, the 74.14 % single model).

A torchvision ResNet34 trunk; after each of its four stages a masking U-Net (depths 4, 3, 2, 1 at
56, 28, 14 and 7 pixels) produces a channel-softmax mask m and the features become x * (1 + m). Head:
global average pooling -> Dropout(0.4) -> Linear(512, 7). Input as RMN's pipeline: gray resized to 224,
stacked to 3 channels, [0, 1] without mean/std. 137.80 M parameters (the paper says 142.9 M; the
official code gives 137.80 M).

Deliberate deviations:
- No ImageNet weights: RMN starts the ResNet34 trunk from ImageNet (the masks and head start random),
  and those weights cannot be downloaded here. ``weights_path`` loads a local torchvision ResNet34
  ImageNet ``state_dict`` into the trunk; without it the whole network trains from scratch, which the
  repository's issues (#7, #9) report to reach only about 65-66 %.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from fer_study.core.constants import NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import InputAdapter, Normalization, resnet_trunk


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


STAGE_WIDTHS = (64, 128, 256, 512)


@dataclass(frozen=True)
class ResMaskingConfig:
    mask_depths: tuple[int, int, int, int] = (4, 3, 2, 1)
    dropout: float = 0.4
    input_size: int = 224
    normalization: Normalization = "none"
    num_classes: int = NUM_CLASSES


class ResidualMaskingNetwork(nn.Module):
    paper_model = True

    def __init__(self, config: ResMaskingConfig, weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.input_size = config.input_size
        self.adapter = InputAdapter(config.input_size, channels=3, normalization=config.normalization)
        self.trunk = resnet_trunk(34, weights_path)
        self.masks = nn.ModuleList(
            MaskingUNet(width, depth) for width, depth in zip(STAGE_WIDTHS, config.mask_depths, strict=True)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.num_features = STAGE_WIDTHS[-1]
        self.classifier = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        trunk = self.trunk
        x = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(self.adapter(images)))))
        for stage, mask in zip(
            (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4), self.masks, strict=True
        ):
            x = stage(x)
            x = x * (1 + mask(x))
        return self.dropout(torch.flatten(trunk.avgpool(x), 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(
    paper="Pham, Vu, Tran, Residual Masking Network, ICPR 2020",
    url="https://github.com/phamquiluan/ResidualMaskingNetwork",
    input_size=224,
)
def resmasking_dropout1(weights_path: str | Path | None = None, **overrides) -> ResidualMaskingNetwork:
    """RMN ``resmasking_dropout1``: ResNet34 + 4 masking U-Nets, Dropout(0.4) head, 224 input."""
    return ResidualMaskingNetwork(ResMaskingConfig(**overrides), weights_path)
