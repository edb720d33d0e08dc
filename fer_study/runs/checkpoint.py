"""A run's epoch checkpoint: the state training saves after every epoch to resume from after an
interruption (``checkpoints/<name>/last.pt``), never committed.

"Checkpoint" is this resumable epoch state; the final model is the run's weights (``fer_study.runs.weights``).
"""

from dataclasses import dataclass, fields
from pathlib import Path

import torch

from fer_study.core import paths
from fer_study.core.files import atomic_write

CHECKPOINT_NAME = "last.pt"


def checkpoint_file(tier: str, name: str) -> Path:
    """The epoch checkpoint training resumes from: ``checkpoints/<name>/last.pt`` (smoke runs: ``scratch/``)."""
    return paths.checkpoints_dir_for(tier) / name / CHECKPOINT_NAME


@dataclass
class EpochCheckpoint:
    """Everything ``fer_study.train.loop.fit`` needs to continue after ``epoch`` epochs as if never stopped."""

    config: dict  # TrainConfig.to_dict() of the run: resuming under another config is refused
    model: dict  # the state dicts of the model, its optimizer and scheduler
    optimizer: dict
    scheduler: dict
    average: dict | None  # the weight average's state dict (TrainConfig.ema_decay), None without one
    history: list[dict]  # one row per epoch done
    best: dict  # the selected epoch so far: {"val_accuracy", "epoch", "state" (its weights, None before any)}
    epoch: int  # epochs done
    train_seconds: float


def save_checkpoint(path: Path, checkpoint: EpochCheckpoint) -> None:
    """Write ``checkpoint`` atomically, as a plain dict of its fields (the format resumed runs were saved in)."""
    with atomic_write(Path(path)) as tmp:
        torch.save({item.name: getattr(checkpoint, item.name) for item in fields(EpochCheckpoint)}, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> EpochCheckpoint:
    """The checkpoint at ``path``, its tensors on ``map_location`` (``mmap``: mapped, not read, for a caller
    that only looks at its progress)."""
    # Not weights_only: the optimizer and scheduler states hold plain Python objects.
    state = torch.load(Path(path), map_location=map_location, weights_only=False, mmap=mmap)
    return EpochCheckpoint(**{item.name: state[item.name] for item in fields(EpochCheckpoint)})
