"""Training-time data as tensors on the training device, with batched augmentation in torch.

No per-image Python runs in the hot loop: a split is one uint8 tensor (N, 1, 48, 48) on the device,
batches are index slices of a seeded permutation, and augmentation draws one set of random parameters
per batch and applies them with a single ``affine_grid`` / ``grid_sample`` call.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fer_study.data.dataset import EXCLUDED, FERDataset


@dataclass(frozen=True)
class AugmentConfig:
    """Random flip and affine jitter; zeros switch a transform off."""

    flip: bool = True
    rotation_degrees: float = 10.0
    scale: float = 0.1  # zoom factor drawn from [1 - scale, 1 + scale]
    translate: float = 0.1  # shift as a fraction of the image side
    erase_probability: float = 0.0  # random erasing of one rectangle (up to a quarter of the side)


@dataclass
class SplitTensors:
    images: torch.Tensor  # (N, 1, 48, 48) uint8
    labels: torch.Tensor  # (N,) int64
    targets: torch.Tensor  # (N,) int64 hard labels, or (N, 7) float soft labels
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def split_tensors(dataset: FERDataset, splits: tuple[str, ...], device: torch.device,
                  soft: bool = False, limit: int | None = None) -> SplitTensors:
    """The images of ``splits`` (protocol-excluded images dropped), optionally the first ``limit``."""
    mask = np.isin(dataset.splits, splits) & (dataset.labels != EXCLUDED)
    indices = np.flatnonzero(mask)[:limit]
    if len(indices) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no labelled images in splits {splits}")
    if soft and dataset.soft_labels is None:
        raise ValueError(f"dataset {dataset.name!r} has no soft labels; use label_mode 'hard'")
    labels = torch.from_numpy(dataset.labels[indices]).to(device)
    return SplitTensors(
        images=torch.from_numpy(dataset.images[indices]).unsqueeze(1).to(device),
        labels=labels,
        targets=torch.from_numpy(dataset.soft_labels[indices]).to(device) if soft else labels,
        ids=dataset.ids[indices],
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, H, W) to float in [0, 1], the input every registered model takes."""
    return images.float().div_(255.0)


def augment(batch: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch (N, 1, H, W) with parameters drawn from ``generator`` (CPU) in one pass."""
    n = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-config.rotation_degrees, config.rotation_degrees) * (math.pi / 180)
    zoom = uniform(1 - config.scale, 1 + config.scale)
    shift = torch.stack([uniform(-config.translate, config.translate) for _ in range(2)], dim=1) * 2
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if config.flip else torch.ones(n)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1).to(batch.device, batch.dtype)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if config.erase_probability > 0:
        out = _random_erase(out, config.erase_probability, generator)
    return out


def _random_erase(batch: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    n, _, height, width = batch.shape
    side = torch.randint(height // 8, height // 4 + 1, (n,), generator=generator)
    top = (torch.rand(n, generator=generator) * (height - side)).long()
    left = (torch.rand(n, generator=generator) * (width - side)).long()
    erase = torch.rand(n, generator=generator) < probability
    rows = torch.arange(height).view(1, height, 1)
    cols = torch.arange(width).view(1, 1, width)
    box = ((rows >= top.view(n, 1, 1)) & (rows < (top + side).view(n, 1, 1)) & (cols >= left.view(n, 1, 1))
           & (cols < (left + side).view(n, 1, 1)) & erase.view(n, 1, 1))
    return batch.masked_fill(box.unsqueeze(1).to(batch.device), 0.0)
