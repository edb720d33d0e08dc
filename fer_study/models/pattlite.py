"""PAtt-Lite (Ngwe et al., "PAtt-Lite: Lightweight Patch and Attention MobileNet for Challenging
Facial Expression Recognition", IEEE Access 2024; https://arxiv.org/abs/2306.09626; code
JLREx/PAtt-Lite ``patt-lite-notebook.ipynb``, Keras).

1. Input 3x224 (the notebook resizes its 120x120 images to 224), Keras MobileNet scaling to [-1, 1].
2. Keras MobileNetV1 (alpha 1) truncated at ``conv_dw_9_relu`` (after the depthwise conv of block 9):
   14x14x512, 0.81 M parameters, ReLU6 activations, Keras "same" padding.
3. Patch extraction: SeparableConv(256, 4x4, stride 4, same, ReLU) -> SeparableConv(256, 2x2,
   stride 2, valid, ReLU) -> Conv 1x1 (256, ReLU): 2x2x256.
4. Dropout(0.1) -> Dense(32, ReLU) -> BatchNorm -> attention (Keras ``Attention(use_scale=True)`` as
   self-attention, one learned scale) -> Dense(7).
1.093 M parameters (torch counting; Keras' 1.10 M includes the BN moving statistics).

The published attention is applied to the 2-D (batch, 32) tensor after global pooling, so each sample
attends over the *other samples of its batch* and a prediction depends on what it is batched with
(JLREx/PAtt-Lite issue #6, acknowledged by the authors; every published number is contaminated).
``batch_attention=True`` reproduces exactly that, so the study can demonstrate the leak
(``pattlite_pair`` and ``batch_attention_demo``, which chapter 5 runs). The default is
a per-sample repair (our design, suggested in the study's paper notes, not the authors'): the 2x2
patch map is kept as 4 tokens, Dense/BN act on each token, the attention runs over the 4 tokens of one
image, and the tokens are averaged afterwards. Both variants have the same parameters.

Deliberate deviations:
- No ImageNet MobileNetV1 weights (the paper fine-tunes them; they cannot be downloaded here): the
  backbone trains from scratch, so the paper's frozen-backbone stage 1 has nothing to freeze.
- 7 outputs (the notebook is set up for 8 FER+ classes); the in-model Keras augmentation layers
  (random flip, contrast) are left to the training engine; stage 2's extra SpatialDropout/Dropout(0.2)
  are not modelled (``dropout`` sets the one dropout rate).
"""

from dataclasses import dataclass, replace

import pandas as pd
import torch
from torch import nn

from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import (
    KERAS_BN_EPS,
    InputAdapter,
    SamePadConv2d,
    SeparableConv2d,
)


# (pointwise width, stride) of Keras MobileNetV1 blocks 1-9; the cut keeps block 9's depthwise half.
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


MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1))


@dataclass(frozen=True)
class PAttLiteConfig:
    batch_attention: bool = False
    patch_width: int = 256
    hidden_width: int = 32
    dropout: float = 0.1
    input_size: int = 224
    num_classes: int = NUM_CLASSES


def _conv_bn_relu6(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels, eps=KERAS_BN_EPS), nn.ReLU6(inplace=True))


def truncated_mobilenet_v1() -> nn.Sequential:
    """Keras MobileNetV1 up to ``conv_dw_9_relu``: stem, blocks 1-8, block 9's depthwise conv."""
    layers = [_conv_bn_relu6(SamePadConv2d(3, 32, 3, stride=2, bias=False))]
    in_channels = 32
    for index, (width, stride) in enumerate(MOBILENET_BLOCKS):
        layers.append(
            _conv_bn_relu6(
                SamePadConv2d(in_channels, in_channels, 3, stride=stride, groups=in_channels, bias=False)
            )
        )
        if index < len(MOBILENET_BLOCKS) - 1:
            layers.append(_conv_bn_relu6(nn.Conv2d(in_channels, width, 1, bias=False)))
            in_channels = width
    return nn.Sequential(*layers)


class PAttLite(nn.Module):
    paper_model = True

    def __init__(self, config: PAttLiteConfig = PAttLiteConfig()) -> None:
        super().__init__()
        self.config = config
        self.input_size = config.input_size
        self.adapter = InputAdapter(config.input_size, channels=3, normalization="symmetric")
        self.backbone = truncated_mobilenet_v1()
        backbone_width = MOBILENET_BLOCKS[-2][0]
        width = config.patch_width
        self.patch_extraction = nn.Sequential(
            SeparableConv2d(backbone_width, width, 4, stride=4, same_padding=True, bias=True),
            nn.ReLU(inplace=True),
            SeparableConv2d(width, width, 2, stride=2, same_padding=False, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.pre_classification = nn.Sequential(nn.Linear(width, config.hidden_width), nn.ReLU(inplace=True))
        self.norm = nn.BatchNorm1d(config.hidden_width, eps=KERAS_BN_EPS)
        self.attention = ScaledDotAttention()
        self.num_features = config.hidden_width
        self.classifier = nn.Linear(config.hidden_width, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        patches = self.patch_extraction(self.backbone(self.adapter(images)))
        if self.config.batch_attention:
            # As published: pool first, then attention over the (batch, features) matrix.
            pooled = self.pre_classification(self.dropout(patches.mean(dim=(2, 3))))
            return self.attention(self.norm(pooled))
        tokens = self.pre_classification(self.dropout(patches.flatten(2).transpose(1, 2)))
        tokens = self.norm(tokens.flatten(0, 1)).view_as(tokens)
        return self.attention(tokens).mean(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(images))


@register_model(
    paper=("Ngwe et al., PAtt-Lite: Lightweight Patch and Attention MobileNet for Challenging Facial"
           " Expression Recognition, IEEE Access 2024"),
    url="https://arxiv.org/abs/2306.09626",
    input_size=224,
)
def pattlite(**overrides) -> PAttLite:
    """PAtt-Lite, per-sample attention over patch tokens; ``batch_attention=True``: the published bug."""
    return PAttLite(PAttLiteConfig(**overrides))


def calibrate_batch_norm(model: nn.Module, images: torch.Tensor) -> None:
    """Set every BN's statistics to those of ``images`` (one cumulative pass), then switch to eval mode:
    an untrained network then maps varied faces to varied features instead of squashing them."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average: one pass sets the statistics exactly
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def pattlite_pair(faces: torch.Tensor, trained: PAttLite | None = None) -> tuple[PAttLite, PAttLite, str]:
    """PAtt-Lite per-sample (our repair) and as published (batch attention), with the same weights, in eval
    mode: those of ``trained`` (a run's model, ``fer_study.runs.load_model``) when given; else random
    weights, with each variant's BN statistics set from ``faces``. Returns (per-sample, published, a
    sentence saying which weights)."""
    if trained is not None:
        per_sample = PAttLite(replace(trained.config, batch_attention=False))
        published = PAttLite(replace(trained.config, batch_attention=True))
        for model in (per_sample, published):
            model.load_state_dict(trained.state_dict())
        return per_sample.eval(), published.eval(), "trained weights"
    torch.manual_seed(0)
    per_sample = pattlite()
    published = pattlite(batch_attention=True)
    published.load_state_dict(per_sample.state_dict())
    for model in (per_sample, published):
        calibrate_batch_norm(model, faces)
    return per_sample, published, ("random weights (no trained PAtt-Lite given), each variant's BN statistics "
                                   "set from these faces")


def batch_attention_demo(faces: torch.Tensor, per_sample: nn.Module, published: nn.Module,
                         companion_faces: int = 4, copies: int = 7) -> pd.DataFrame:
    """The first face classified in batches with different companions, by both PAtt-Lite variants.

    ``faces``: a float batch (N, 1, 48, 48) in [0, 1]. Rows: the first face alone, then in a batch with
    ``copies`` copies of another face, for ``companion_faces`` other faces (those the published model,
    shown each face alone, assigns another class than the first come first). Columns: each variant's
    predicted class and probability for the first face, and the largest change of its logits from
    the face alone.
    """
    variants = {"per_sample": per_sample, "published": published}
    with torch.no_grad():
        alone = [published(face[None]).argmax(1).item() for face in faces]
        reference = {name: model(faces[:1])[0] for name, model in variants.items()}
    # Companions of another class first: they pull the published prediction hardest.
    companions = sorted(range(1, len(faces)), key=lambda index: (alone[index] == alone[0], index))
    batches = [("the face alone", faces[:1])] + [
        (f"with {copies} copies of face {index} (a {CLASS_NAMES[alone[index]]} face to the published model)",
         torch.cat([faces[:1], faces[index:index + 1].expand(copies, -1, -1, -1)]))
        for index in companions[:companion_faces]]
    rows = []
    with torch.no_grad():
        for description, batch in batches:
            row = {"batch": description, "batch_size": len(batch)}
            for name, model in variants.items():
                logits = model(batch)[0]
                probabilities = logits.softmax(0)
                row |= {f"{name}_prediction": CLASS_NAMES[probabilities.argmax().item()],
                        f"{name}_probability": probabilities.max().item(),
                        f"{name}_max_logit_change": (logits - reference[name]).abs().max().item()}
            rows.append(row)
    return pd.DataFrame(rows)
