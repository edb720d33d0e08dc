"""Batch mixing: mixup (Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond empirical risk minimization")
and CutMix (Yun et al. 2019, "CutMix: Regularization strategy to train strong classifiers with localizable
features"), as torchvision implements them (``torchvision.transforms.v2.MixUp`` and ``CutMix``).

A mixed batch's targets become class distributions (N, 7), which the cross-entropy takes as they are (label
smoothing included); FER+ vote distributions mix the same way. ``TrainConfig.mixing_probability`` is the share
of batches that are mixed, drawn from the epoch's generator; the rest train as usual. The mixing ratio and
CutMix's box come from torch's global generator, which the loop seeds at every epoch, so a resumed run mixes as
an uninterrupted one. The training accuracy in ``history.csv`` still counts each image against its own label.

Deliberate deviation from the papers: each image is mixed with its neighbour in the (shuffled) batch, as
torchvision does, rather than with a second random permutation.
"""

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from fer_study.core.constants import NUM_CLASSES

MIXERS = {"mixup": v2.MixUp, "cutmix": v2.CutMix}
MIXING = ("none", *MIXERS)


def batch_mixer(mixing: str, alpha: float) -> Callable[[torch.Tensor, torch.Tensor], tuple] | None:
    """The transform that mixes an (images, targets) batch for ``mixing`` (one of ``MIXING``), or ``None``."""
    if mixing not in MIXING:
        raise ValueError(f"mixing must be one of {', '.join(MIXING)}, got {mixing!r}")
    return None if mixing == "none" else MIXERS[mixing](alpha=alpha, num_classes=NUM_CLASSES)
