"""The one rule for the torch device a command runs on: training, the recognizer and the generator alike."""

import torch


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto``: the GPU when torch finds one, else the CPU; any other name must exist here, so ``cuda`` on a
    machine without a GPU is a clear error at the start instead of a failure deep inside a run."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {str(name)!r}: expected auto, cpu or cuda ({error})") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda asked for, but torch finds no CUDA GPU on this machine "
                         "(torch.cuda.is_available() is False); use --device cpu")
    return device
