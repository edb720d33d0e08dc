"""The arithmetic of one training step: forward + backward FLOPs per image, counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; element-wise work is not
counted). The train bench turns it into achieved GFLOP/s and the sweep into cost estimates."""

import copy

import torch
from torch.utils.flop_counter import FlopCounterMode

from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE
from fer_study.train.config import TrainConfig
from fer_study.train.loop import train_step
from fer_study.train.optim import build_optimizer

FLOP_COUNT_BATCH = 2


def training_flops_per_image(model: torch.nn.Module, config: TrainConfig) -> float:
    """Forward + backward FLOPs of one training step per 48x48 image (counted on a CPU copy)."""
    model = copy.deepcopy(model).cpu()
    optimizer = build_optimizer(config.optimizer, model, config.lr, config.weight_decay)
    images = torch.rand(FLOP_COUNT_BATCH, 1, IMAGE_SIZE, IMAGE_SIZE,
                        generator=torch.Generator().manual_seed(0))
    labels = torch.arange(FLOP_COUNT_BATCH) % len(CLASS_NAMES)
    model.train()
    with FlopCounterMode(display=False) as counter:
        train_step(model, images, labels, optimizer, torch.nn.CrossEntropyLoss(), 0.0, config.precision)
    return counter.get_total_flops() / FLOP_COUNT_BATCH
