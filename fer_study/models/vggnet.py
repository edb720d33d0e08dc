"""VGGNet of Khaireddin & Chen, "Facial Emotion Recognition: State of the Art Performance on FER2013"
(2021; https://arxiv.org/abs/2105.03588; code usef-kh/fer ``models/vgg.py``).

Four stages of [3x3 conv (bias) -> BN -> ReLU] x 2 with 64, 128, 256 and 512 channels, each followed
by 2x2 max-pooling (40 -> 2), then flatten 2048 -> FC 4096 -> Dropout(0.2) -> ReLU -> FC 4096 ->
Dropout(0.2) -> ReLU -> FC 7. One gray channel in [0, 1] (the code only divides by 255).
29.89 M parameters. The paper trains and tests on 40x40 crops of the 48x48 images (ten-crop).

Deliberate deviations:
- Dropout 0.2, the value the code actually uses (``Vgg()`` default; the ``drop=0.1`` in its hparams
  is never passed).
- Inputs larger than 40 are centre-cropped to 40 inside the model, so an uncropped 48x48 batch gives
  the centre crop of the paper's ten-crop; 40x40 crops pass unchanged. Training and ten-crop TTA should
  feed 40x40 crops, as the paper does.
"""

from dataclasses import dataclass

import torch
from torch import nn

from fer_study.core.constants import NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import InputAdapter, conv_bn_relu


@dataclass(frozen=True)
class VGGNetConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512)
    hidden_width: int = 4096
    dropout: float = 0.2
    input_size: int = 40
    num_classes: int = NUM_CLASSES


class VGGNet(nn.Module):
    paper_model = True

    def __init__(self, config: VGGNetConfig = VGGNetConfig()) -> None:
        super().__init__()
        self.config = config
        self.input_size = config.input_size
        self.adapter = InputAdapter(config.input_size, channels=1, fit="center_crop")
        stages: list[nn.Module] = []
        in_channels = 1
        for width in config.widths:
            stages += [conv_bn_relu(in_channels, width, bias=True), conv_bn_relu(width, width, bias=True)]
            stages.append(nn.MaxPool2d(2))
            in_channels = width
        self.features = nn.Sequential(*stages)
        side = config.input_size // 2 ** len(config.widths)
        # The code applies dropout before the ReLU; the order is kept (the two commute anyway).
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * side * side, config.hidden_width),
            nn.Dropout(config.dropout),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_width, config.hidden_width),
            nn.Dropout(config.dropout),
            nn.ReLU(inplace=True),
        )
        self.num_features = config.hidden_width
        self.classifier = nn.Linear(config.hidden_width, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.features(self.adapter(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(
    paper="Khaireddin, Chen, Facial Emotion Recognition: State of the Art Performance on FER2013, 2021",
    url="https://arxiv.org/abs/2105.03588",
    input_size=40,
)
def vggnet(**overrides) -> VGGNet:
    """Khaireddin & Chen's VGGNet on 40x40 crops (29.89 M parameters)."""
    return VGGNet(VGGNetConfig(**overrides))
