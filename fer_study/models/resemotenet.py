"""ResEmoteNet (Roy et al., IEEE Signal Processing Letters 2024; https://arxiv.org/abs/2409.10545).

Architecture as the authors' ``approach/ResEmoteNet.py`` (ArnabKumarRoy02/ResEmoteNet @ fabbe68):
three conv-BN-ReLU-maxpool stages (64, 128, 256; dropout 0.2 after the first two), an SE block
(r=16), three stride-2 residual blocks (512, 1024, 2048), global average pooling and an FC stack
2048-1024-512-256-7 with dropout 0.5. Input 3x64x64 (gray repeated), ImageNet mean/std, as the
paper's transforms. 80.24 M parameters.

Deliberate deviations:
- 7 outputs in the project's class order (one version of the authors' file has a 6-way ``fc4``).
- The input adapter resizes the gray 48x48 batch to 64 inside the model (the paper resizes PIL images
  with ``transforms.Resize(64)`` beforehand); bilinear interpolation either way.

``resemotenet_s`` is a **width-scaled CPU variant, not the paper's model** (``paper_model = False``):
every width (convs, residual blocks, FC layers) is divided by 8 and it runs at the native 48x48 input
without resizing (the three max-pools and three stride-2 blocks take 48 -> 6 -> 1). Its accuracy must
never be set against the paper's claim as if it were ResEmoteNet.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from fer_study.core.constants import IMAGE_SIZE, NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import InputAdapter, Normalization, SqueezeExcitation


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


RESEMOTENET_PAPER = "Roy et al., ResEmoteNet, IEEE Signal Processing Letters 2024"
RESEMOTENET_URL = "https://arxiv.org/abs/2409.10545"

@dataclass(frozen=True)
class ResEmoteNetConfig:
    stem_widths: tuple[int, int, int] = (64, 128, 256)
    residual_widths: tuple[int, int, int] = (512, 1024, 2048)
    hidden_widths: tuple[int, int, int] = (1024, 512, 256)
    se_reduction: int = 16
    stem_dropout: float = 0.2
    head_dropout: float = 0.5
    input_size: int | None = 64
    normalization: Normalization = "imagenet"
    num_classes: int = NUM_CLASSES

    def scaled(self, divisor: int) -> "ResEmoteNetConfig":
        """The same network with every width divided by ``divisor``."""
        return replace(
            self,
            stem_widths=tuple(w // divisor for w in self.stem_widths),
            residual_widths=tuple(w // divisor for w in self.residual_widths),
            hidden_widths=tuple(w // divisor for w in self.hidden_widths),
        )


class ResEmoteNet(nn.Module):
    def __init__(self, config: ResEmoteNetConfig, paper_model: bool) -> None:
        super().__init__()
        self.config = config
        self.paper_model = paper_model
        self.input_size = config.input_size or IMAGE_SIZE
        self.adapter = InputAdapter(config.input_size, channels=3, normalization=config.normalization)
        stem: list[nn.Module] = []
        in_channels = 3
        for stage, width in enumerate(config.stem_widths):
            stem += [
                nn.Conv2d(in_channels, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            if stage < len(config.stem_widths) - 1:
                stem.append(nn.Dropout(config.stem_dropout))
            in_channels = width
        self.stem = nn.Sequential(*stem)
        self.se = SqueezeExcitation(in_channels, config.se_reduction)
        blocks = []
        for width in config.residual_widths:
            blocks.append(ResidualBlock(in_channels, width, stride=2))
            in_channels = width
        self.residual_blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        hidden: list[nn.Module] = []
        for width in config.hidden_widths:
            hidden += [nn.Linear(in_channels, width), nn.ReLU(inplace=True), nn.Dropout(config.head_dropout)]
            in_channels = width
        self.hidden = nn.Sequential(*hidden)
        self.num_features = in_channels
        self.classifier = nn.Linear(in_channels, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        x = self.se(self.stem(self.adapter(images)))
        return self.hidden(self.pool(self.residual_blocks(x)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(paper=RESEMOTENET_PAPER, url=RESEMOTENET_URL, input_size=64)
def resemotenet(**overrides) -> ResEmoteNet:
    """ResEmoteNet as published: 3x64x64 input, 80.24 M parameters."""
    return ResEmoteNet(ResEmoteNetConfig(**overrides), paper_model=True)


RESEMOTENET_S_WIDTH_DIVISOR = 8


@register_model(
    paper=RESEMOTENET_PAPER,
    url=RESEMOTENET_URL,
    input_size=IMAGE_SIZE,
    paper_model=False,
    scaled_variant_of="resemotenet",
)
def resemotenet_s(**overrides) -> ResEmoteNet:
    """Width-scaled CPU variant (all widths / 8, native 48x48 input); not the paper's model."""
    config = replace(ResEmoteNetConfig().scaled(RESEMOTENET_S_WIDTH_DIVISOR), input_size=None)
    return ResEmoteNet(replace(config, **overrides), paper_model=False)
