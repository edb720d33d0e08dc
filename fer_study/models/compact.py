"""``vgg_cpu``: the study's own compact CPU baseline, **not a paper's model**.

A 1.2 M-parameter VGG-style CNN sized for the 2-core CPU tier (see "CPU training calibration" in
``../shared/toolchain.md``): four stages of widths 32-64-128-256, each two 3x3 conv-BN-ReLU followed by
2x2 max-pooling, then global average pooling, dropout 0.3 and a linear 7-way classifier. It runs at the
native 48x48 resolution and, because it ends in global pooling, on any crop size (40, 44, ...) without
resizing. There is no paper claim to compare it with (``paper_model = False``).
"""

from dataclasses import dataclass

import torch
from torch import nn

from fer_study.core.constants import IMAGE_SIZE, NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import InputAdapter, conv_bn_relu


@dataclass(frozen=True)
class CompactVGGConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 2
    dropout: float = 0.3
    num_classes: int = NUM_CLASSES


class CompactVGG(nn.Module):
    paper_model = False
    input_size = IMAGE_SIZE

    def __init__(self, config: CompactVGGConfig = CompactVGGConfig()) -> None:
        super().__init__()
        self.config = config
        self.adapter = InputAdapter(size=None)
        stages: list[nn.Module] = []
        in_channels = 1
        for width in config.widths:
            for _ in range(config.convs_per_stage):
                stages.append(conv_bn_relu(in_channels, width))
                in_channels = width
            stages.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout))
        self.num_features = in_channels
        self.classifier = nn.Linear(in_channels, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(self.adapter(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(paper=None, url=None, input_size=IMAGE_SIZE, paper_model=False)
def vgg_cpu(**overrides) -> CompactVGG:
    """The study's 1.2 M-parameter CPU baseline at native 48x48 (not a paper's model)."""
    return CompactVGG(CompactVGGConfig(**overrides))
