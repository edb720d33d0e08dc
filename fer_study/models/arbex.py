"""ARBEx reliability balancing (Wasi, Šerbetar, Islam, Rafi, Chae, "ARBEx: Attentive Feature Extraction
with Reliability Balancing for Robust Facial Expression Learning", 2023;
https://arxiv.org/abs/2305.01486; code takihasan/ARBEx @ b85c37b), as an option for any registered
backbone.

``ReliabilityBalancing(backbone)`` takes the backbone's embedding (``backbone.forward_features``, the
input of its own classifier, which is not used) and adds, as the paper's code:

- an MLP head D -> D/2 -> D/4 -> D/8 -> 7, each hidden layer Linear -> ReLU -> BN -> Dropout(0.5)
  (768 -> 384 -> 192 -> 96 in the paper);
- learnable class anchors in embedding space (``anchors_per_class`` per class, 1 by default as the
  code's argparse default), initialised to zero, with Euclidean distances;
- an attention distribution: Q/K/V Linear(D -> 7k) and a one-head ``nn.MultiheadAttention(7k)``,
  softmax over its output, summed per class;
- label correction: p = softmax(logits / T); confidence c = 1 - normalised entropy; the anchor
  similarity s = softmax(-distances / delta) and the attention distribution a are mixed weighted by
  their own confidences into a correction q; p_corr = (1 - t) p + t (c p + (1 - c) q) with the trust
  t = training progress in [0, 1];
- the loss: NLL(log p_corr) with optional class weights (the code uses inverse class frequencies)
  + t (anchor repulsion + confidence-weighted centre loss to the nearest own-class anchor), both scaled
  by 1 / sqrt(D).
Inference uses the plain p (the code's ``--test-set-correction`` defaults to False): ``forward`` returns
the head's logits; ``training_loss(images, labels, progress)`` returns (logits, loss).

The paper's attention is run on the 2-D (batch, 7k) matrix, which PyTorch treats as one unbatched
sequence: every sample attends over the other samples of its batch. By default here each sample's query
attends over the class anchors instead (keys and values projected from the anchors; our per-sample
repair, not the authors'); ``batch_attention=True`` restores the published form. Same parameters.

Deliberate deviations:
- The paper's backbone is POSTER V2 with a frozen IR50 face-recognition network (MS-Celeb-1M weights)
  and a frozen MobileFaceNet landmark network; neither set of weights ships with the code and none can
  be downloaded here, so reliability balancing runs on the study's own backbones (``arbex_resnet18``:
  RMN's ResNet18 pipeline) and is not the paper's model (``paper_model = False``).
- The code's hyperparameters are argparse placeholders (every learning rate 1.0); temperature and
  delta default to 1.0 here, and the bug that takes delta from the temperature argument is not copied.
- The anchor repulsion term is unbounded below, as published; the trust ramp keeps it at zero at the
  start of training.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from fer_study.core.constants import NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.resnet import resnet18


@dataclass(frozen=True)
class ReliabilityBalancingConfig:
    anchors_per_class: int = 1
    head_depth: int = 3
    head_dropout: float = 0.5
    temperature: float = 1.0
    delta: float = 1.0
    lambda_ce: float = 1.0
    lambda_anchor: float = 1.0
    lambda_center: float = 1.0
    batch_attention: bool = False
    num_classes: int = NUM_CLASSES


class BalancingOutputs(NamedTuple):
    logits: torch.Tensor  # (N, C)
    distances: torch.Tensor  # (N, C, anchors per class)
    anchor_similarity: torch.Tensor  # (N, C), a distribution per sample
    attention_distribution: torch.Tensor  # (N, C), a distribution per sample


def reliability_confidence(distribution: torch.Tensor) -> torch.Tensor:
    """1 - normalised entropy of each row of a (N, C) distribution, shape (N, 1)."""
    entropy = -(distribution * distribution.clamp_min(1e-12).log()).sum(dim=-1, keepdim=True)
    return 1 - entropy / torch.log(torch.tensor(float(distribution.shape[-1])))


def anchor_repulsion_loss(anchors: torch.Tensor) -> torch.Tensor:
    """Minus the summed squared distances between the classes' anchor sets, / sqrt(D) / k^2."""
    num_classes, anchors_per_class, dim = anchors.shape
    flat = anchors.reshape(num_classes, -1)
    squared = ((flat[None] - flat[:, None]) ** 2).sum() / dim**0.5
    return -squared / anchors_per_class**2


def anchor_center_loss(
    distances: torch.Tensor, labels: torch.Tensor, confidence: torch.Tensor, embedding_dim: int
) -> torch.Tensor:
    """Confidence-weighted distance of each embedding to the nearest anchor of its own class, / sqrt(D).

    ``distances`` (N, C, k) are Euclidean, ``confidence`` (N, 1) as ``reliability_confidence``.
    """
    own_class = distances[torch.arange(len(labels)), labels].min(dim=1).values
    return (own_class * confidence.view(-1)).mean() / embedding_dim**0.5


def corrected_distribution(outputs: BalancingOutputs, trust: float, temperature: float) -> torch.Tensor:
    """ARBEx's reliability-balanced label distribution p_corr (N, C)."""
    probabilities = torch.softmax(outputs.logits / temperature, dim=-1)
    confidence = reliability_confidence(probabilities)
    geometric_confidence = reliability_confidence(outputs.anchor_similarity)
    attention_confidence = reliability_confidence(outputs.attention_distribution)
    correction = (
        outputs.anchor_similarity * geometric_confidence
        + outputs.attention_distribution * attention_confidence
    ) / (geometric_confidence + attention_confidence)
    balanced = confidence * probabilities + (1 - confidence) * correction
    return (1 - trust) * probabilities + trust * balanced


class ReliabilityBalancing(nn.Module):
    paper_model = False

    def __init__(
        self, backbone: nn.Module, config: ReliabilityBalancingConfig = ReliabilityBalancingConfig()
    ) -> None:
        super().__init__()
        if not hasattr(backbone, "forward_features") or not hasattr(backbone, "num_features"):
            raise TypeError(
                "the backbone needs forward_features() and num_features, as every registered model has"
            )
        self.config = config
        self.backbone = backbone
        self.input_size = backbone.input_size
        dim = backbone.num_features
        head: list[nn.Module] = []
        width = dim
        for _ in range(config.head_depth):
            head += [nn.Linear(width, width // 2), nn.ReLU(inplace=True), nn.BatchNorm1d(width // 2)]
            head.append(nn.Dropout(config.head_dropout))
            width //= 2
        head.append(nn.Linear(width, config.num_classes))
        self.head = nn.Sequential(*head)
        self.anchors = nn.Parameter(torch.zeros(config.num_classes, config.anchors_per_class, dim))
        attention_dim = config.num_classes * config.anchors_per_class
        self.query = nn.Linear(dim, attention_dim)
        self.key = nn.Linear(dim, attention_dim)
        self.value = nn.Linear(dim, attention_dim)
        self.attention = nn.MultiheadAttention(attention_dim, num_heads=1, batch_first=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(images))

    def balancing_outputs(self, images: torch.Tensor) -> BalancingOutputs:
        embeddings = self.backbone.forward_features(images)
        num_samples = len(embeddings)
        distances = torch.cdist(embeddings, self.anchors.flatten(0, 1)).view(
            num_samples, *self.anchors.shape[:2]
        )
        anchor_similarity = (
            torch.softmax(-distances.flatten(1) / self.config.delta, dim=-1).view_as(distances).sum(-1)
        )
        if self.config.batch_attention:
            # As published: a 2-D input is one unbatched sequence whose tokens are the batch's samples.
            attended, _ = self.attention(self.query(embeddings), self.key(embeddings), self.value(embeddings))
        else:
            anchors = self.anchors.flatten(0, 1).expand(num_samples, -1, -1)
            attended, _ = self.attention(
                self.query(embeddings)[:, None], self.key(anchors), self.value(anchors)
            )
            attended = attended[:, 0]
        attention_distribution = torch.softmax(attended, dim=-1).view_as(distances).sum(-1)
        return BalancingOutputs(self.head(embeddings), distances, anchor_similarity, attention_distribution)

    def training_loss(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        progress: float,
        class_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and ARBEx's loss at training ``progress`` in [0, 1] (the trust t)."""
        config = self.config
        outputs = self.balancing_outputs(images)
        corrected = corrected_distribution(outputs, progress, config.temperature)
        ce = F.nll_loss(corrected.clamp_min(1e-12).log(), labels, weight=class_weights)
        confidence = reliability_confidence(torch.softmax(outputs.logits / config.temperature, dim=-1))
        center = anchor_center_loss(outputs.distances, labels, confidence, self.anchors.shape[-1])
        repulsion = anchor_repulsion_loss(self.anchors)
        loss = config.lambda_ce * ce + progress * (
            config.lambda_anchor * repulsion + config.lambda_center * center
        )
        return outputs.logits, loss


@register_model(
    paper=("Wasi et al., ARBEx: Attentive Feature Extraction with Reliability Balancing for Robust Facial"
           " Expression Learning, 2023"),
    url="https://arxiv.org/abs/2305.01486",
    input_size=224,
    paper_model=False,
)
def arbex_resnet18(weights_path: str | Path | None = None, **overrides) -> ReliabilityBalancing:
    """ARBEx reliability balancing on RMN's ResNet18 (224 input); not the paper's POSTER V2 model."""
    return ReliabilityBalancing(resnet18(weights_path=weights_path), ReliabilityBalancingConfig(**overrides))
