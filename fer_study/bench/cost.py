"""What a model costs to run where the recognizer runs: CPU milliseconds per face, measured on a freshly
built model (the ensemble chapter's cost column; ``fer_study.ensemble`` itself reads run folders only)."""

import time

import torch

from fer_study.constants import IMAGE_SIZE
from fer_study.models import create_model


def cpu_ms_per_image(model_name: str) -> float:
    """CPU forward time of one 48x48 image (batch of one, as a recognizer classifies one face at a time)
    through a freshly built, untrained registered model.

    Weights do not change the arithmetic, so the untrained model times the same as the trained one. One
    untimed forward first, so allocation and one-off setup are not counted.
    """
    model = create_model(model_name).eval()
    image = torch.rand(1, 1, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        model(image)
        start = time.perf_counter()
        model(image)
        return (time.perf_counter() - start) * 1000.0
