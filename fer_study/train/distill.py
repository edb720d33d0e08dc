"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network").

A student trains on ``(1 - weight) * CE(student, label) + weight * T^2 * KL(teacher_T || student_T)``, where
``x_T`` is the softmax of logits divided by the temperature ``T`` (``TrainConfig.distill_temperature``,
``distill_weight``). The teachers' targets are computed once, on the unaugmented training images, and
saved as a small file (``teacher targets``: ids and the log of the teachers' mean softmax, float16), so a
student re-trains from that file without the teachers' checkpoints.

Deliberate deviation: the student sees augmented images while its targets come from the unaugmented ones
(the teachers are not run inside the training loop, which would cost their forward passes every step).

``python -m fer_study.train.teachers RUN... --out results/teachers/NAME.npz`` writes the file
(``fer_study.train.teachers``).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_study.core.files import atomic_write, file_sha256


class DistillationLoss(nn.Module):
    """The label loss mixed with the temperature-scaled KL divergence to the teachers' targets.

    ``targets`` is ``(labels, teacher_log_probabilities)``; ``labels`` as ``base`` takes them."""

    def __init__(self, base: nn.Module, temperature: float, weight: float) -> None:
        super().__init__()
        self.base, self.temperature, self.weight = base, temperature, weight

    def forward(self, logits: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        labels, teacher = targets
        temperature = self.temperature
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                        reduction="batchmean", log_target=True)
        return (1 - self.weight) * self.base(logits, labels) + self.weight * temperature ** 2 * soft


def save_teacher_targets(path: Path, ids: np.ndarray, log_probabilities: np.ndarray, members: list[str]) -> Path:
    with atomic_write(Path(path)) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, ids=np.asarray(ids).astype(str),
                            log_probabilities=np.asarray(log_probabilities, dtype=np.float16),
                            members=np.asarray(members, dtype=str))
    return Path(path)


def load_teacher_targets(path: str | Path, ids: np.ndarray) -> torch.Tensor:
    """The teachers' log-probabilities (N, 7) in the order of ``ids``; every id must have a target."""
    path = Path(path)
    teacher_ids, values = _read_teacher_file(path, "ids", "log_probabilities")
    values = values.astype(np.float32)
    position = {image_id: row for row, image_id in enumerate(teacher_ids)}
    missing = [image_id for image_id in ids if image_id not in position]
    if missing:
        raise ValueError(f"{path}: no teacher target for {len(missing)} training images (first: {str(missing[0])!r}); "
                         "the file was made for another dataset or split")
    return torch.from_numpy(values[[position[image_id] for image_id in ids]])


def teacher_provenance(path: str | Path) -> dict:
    """What a student's metrics record of its targets: the teacher runs and the file's sha256."""
    path = Path(path)
    (members,) = _read_teacher_file(path, "members")
    return {"teachers": [str(name) for name in members], "teacher_targets_sha256": file_sha256(path)}


def _read_teacher_file(path: Path, *keys: str) -> list[np.ndarray]:
    """The arrays ``keys`` of a teacher-targets file, or a ValueError naming the file and what it lacks."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return [npz[key] for key in keys]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: cannot read teacher targets (expected an .npz with {' and '.join(keys)}, "
                         f"written by python -m fer_study.train.teachers): {error}") from error
