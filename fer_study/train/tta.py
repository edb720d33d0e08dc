"""Test-time augmentation: deterministic views of a float batch whose logits are averaged.

- ``flip``: the image and its mirror (2 views).
- ``ten_crop``: four corner crops, the centre crop and their mirrors (10 views, side ``crop``); each
  model resizes its input itself, so crops need no resizing here (VGGNet: 40 px crops of 48 px faces).
- ``flip_rotate``: rotations by 0, +-10 and +-20 degrees, each with and without mirroring (10 views),
  a deterministic form of RMN's random flip-and-rotate views.
"""

import math

import torch
import torch.nn.functional as F

TTA_MODES = ("none", "flip", "ten_crop", "flip_rotate")


def tta_views(batch: torch.Tensor, mode: str, crop: int = 40) -> list[torch.Tensor]:
    if mode == "none":
        return [batch]
    if mode == "flip":
        return [batch, batch.flip(-1)]
    if mode == "ten_crop":
        size = batch.shape[-1]
        if not 0 < crop <= size:
            raise ValueError(f"ten_crop crop size {crop} must be in 1..{size}")
        offsets = [(0, 0), (0, size - crop), (size - crop, 0), (size - crop, size - crop),
                   ((size - crop) // 2, (size - crop) // 2)]
        crops = [batch[..., top:top + crop, left:left + crop] for top, left in offsets]
        return crops + [view.flip(-1) for view in crops]
    if mode == "flip_rotate":
        views = []
        for degrees in (0, 10, -10, 20, -20):
            rotated = _rotate(batch, degrees)
            views += [rotated, rotated.flip(-1)]
        return views
    raise ValueError(f"TTA mode {mode!r} unknown; expected one of {TTA_MODES}")


def _rotate(batch: torch.Tensor, degrees: float) -> torch.Tensor:
    if degrees == 0:
        return batch
    angle = math.radians(degrees)
    theta = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0]],
                         dtype=batch.dtype, device=batch.device).expand(batch.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, padding_mode="border", align_corners=False)
