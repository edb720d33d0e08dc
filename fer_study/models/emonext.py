"""EmoNeXt-Tiny (El Boudouri & Bohi, "EmoNeXt: an Adapted ConvNeXt for Facial Emotion Recognition",
IEEE MMSP 2023; https://arxiv.org/abs/2501.08199; code yelboudouri/EmoNeXt ``models.py``).

1. Input 3x224 (gray repeated), [0, 1] without mean/std.
2. Spatial transformer on the raw input (7x7/5x5 localisation CNN, 10x52x52 -> 32 -> 6, identity
   start, ``affine_grid``/``grid_sample`` with align_corners=True).
3. ConvNeXt-T trunk (depths 3-3-9-3, dims 96-192-384-768, torchvision's ``CNBlock``: depthwise 7x7,
   LayerNorm, MLP x4 with GELU, layer scale 1e-6, stochastic depth 0.1 ramped linearly), with an SE
   block (r=16, bias-free) after each of the three downsampling convs.
4. Head: global average pooling -> LayerNorm -> Linear(768, 7).
5. Self-attention regulariser (``DotProductSelfAttention``: LayerNorm, Q/K/V 768x768, scale d^-1/4):
   only its weights W enter the loss, L = CE(label smoothing 0.2) + mean((W - mean W)^2).
30.56 M parameters. Initialisation as the code: truncated-normal(0.02) conv/linear weights, zero
biases.

The paper's code feeds the attention the (batch, 768) matrix of pooled features, so its "tokens" are the
samples of the batch and the regulariser couples samples (the logits themselves stay per-sample). The
default here is per-sample (our repair): the tokens are the 7x7 positions of one image's last feature
map. ``batch_attention=True`` restores the published form. Same parameters either way.

Use ``forward`` for logits, ``forward_with_regularizer`` for (logits, attention regulariser) and
``training_loss(images, labels)`` for (logits, the paper's loss).

Deliberate deviations:
- No ImageNet-22k ConvNeXt weights (the paper fine-tunes them; they cannot be downloaded here): the
  network trains from scratch.
- The trunk uses torchvision's ConvNeXt blocks (same arithmetic and parameter count as the official
  ones; key names differ, so official checkpoints would need a key mapping).
- Training-recipe parts (EMA weights: ``TrainConfig.ema_decay``; ten-crop TTA, the warm-restart
  schedule) belong to the training engine, not the model.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.convnext import CNBlock, LayerNorm2d

from fer_study.core.constants import NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import (
    InputAdapter,
    SqueezeExcitation,
)


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


LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class EmoNeXtConfig:
    depths: tuple[int, int, int, int] = (3, 3, 9, 3)
    dims: tuple[int, int, int, int] = (96, 192, 384, 768)
    drop_path_rate: float = 0.1
    layer_scale: float = 1e-6
    se_reduction: int = 16
    label_smoothing: float = 0.2
    batch_attention: bool = False
    input_size: int = 224
    num_classes: int = NUM_CLASSES


class EmoNeXt(nn.Module):
    paper_model = True

    def __init__(self, config: EmoNeXtConfig = EmoNeXtConfig()) -> None:
        super().__init__()
        self.config = config
        self.input_size = config.input_size
        dims = config.dims
        self.adapter = InputAdapter(config.input_size, channels=3)
        self.stn = SpatialTransformer(3, config.input_size)
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=LAYER_NORM_EPS))]
        )
        for i in range(len(dims) - 1):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(dims[i], eps=LAYER_NORM_EPS),
                    nn.Conv2d(dims[i], dims[i + 1], 2, stride=2),
                    SqueezeExcitation(dims[i + 1], config.se_reduction),
                )
            )
        # On the CPU whatever the default device, so the model can also be built on "meta" (parameter counts).
        drop_rates = torch.linspace(0, config.drop_path_rate, sum(config.depths), device="cpu").tolist()
        self.stages = nn.ModuleList()
        for dim, depth in zip(dims, config.depths, strict=True):
            rates, drop_rates = drop_rates[:depth], drop_rates[depth:]
            self.stages.append(nn.Sequential(*(CNBlock(dim, config.layer_scale, rate) for rate in rates)))
        self.norm = nn.LayerNorm(dims[-1], eps=LAYER_NORM_EPS)
        self.attention = DotProductSelfAttention(dims[-1])
        self.num_features = dims[-1]
        self.classifier = nn.Linear(dims[-1], config.num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.stn.reset_to_identity()

    def _feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stn(self.adapter(images))
        for downsample, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(downsample(x))
        return x

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm(self._feature_map(images).mean(dim=(-2, -1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))

    def forward_with_regularizer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the attention regulariser mean((W - mean W)^2)."""
        feature_map = self._feature_map(images)
        features = self.norm(feature_map.mean(dim=(-2, -1)))
        tokens = features if self.config.batch_attention else feature_map.flatten(2).transpose(1, 2)
        _, weights = self.attention(tokens)
        regularizer = ((weights - weights.mean()) ** 2).mean()
        return self.classifier(features), regularizer

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the paper's loss: label-smoothed cross-entropy plus the attention regulariser."""
        logits, regularizer = self.forward_with_regularizer(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing) + regularizer
        return logits, loss


@register_model(
    paper="El Boudouri, Bohi, EmoNeXt: an Adapted ConvNeXt for Facial Emotion Recognition, IEEE MMSP 2023",
    url="https://arxiv.org/abs/2501.08199",
    input_size=224,
)
def emonext_tiny(**overrides) -> EmoNeXt:
    """EmoNeXt-Tiny: STN + ConvNeXt-T with SE, per-sample attention regulariser (30.56 M parameters)."""
    return EmoNeXt(EmoNeXtConfig(**overrides))
