"""What a model costs to run where the recognizer runs: CPU milliseconds per face, measured on a freshly
built model (the ensemble chapter's cost column; ``fer_study.analysis.ensemble`` itself reads run folders only)."""

import statistics
import time

import torch

from fer_study.core.constants import IMAGE_SIZE
from fer_study.core.devices import torch_threads
from fer_study.models import create_model


def cpu_ms_per_image(model_name: str, repeats: int = 20) -> float:
    """CPU forward time of one 48x48 image (batch of one, as a recognizer classifies one face at a time)
    through a freshly built, untrained registered model: the median of ``repeats`` timed calls on one thread.

    Weights do not change the arithmetic, so the untrained model times the same as the trained one. One
    untimed forward first, so allocation and one-off setup are not counted. One thread, because a batch of
    one gains little from more and, on a machine whose other core is busy, a second thread waits for it
    (measured here: ~360 ms per call with two threads beside a training run, 9 ms with one); the median,
    because a single call on a shared machine is as likely to time the scheduler as the model.
    """
    model = create_model(model_name).eval()
    image = torch.rand(1, 1, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), torch_threads(1):
        model(image)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(image)
            times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))
