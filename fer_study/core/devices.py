"""The one rule for the torch device a command runs on (training, the recognizer and the generator alike),
and for how many CPU threads small torch work runs on."""

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def cpu_model() -> str:
    """This machine's CPU model ("model name" of /proc/cpuinfo on Linux, else ``platform.processor()``). Runs
    record it: another kind of CPU sums in another order, so the same seed trains to other weights there."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown"


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch ops on ``count`` threads, then restore the previous setting (a sub-microsecond switch).

    Small torch work (MTCNN on one frame, a classifier on a few 48x48 faces, augmenting one 48x48 image)
    is too small to split well: extra threads mostly wait for each other, and on a busy machine those waits
    multiply the wall-clock time many times over (augmenting a face: 7.9 ms with two threads beside a
    training run, 0.8 ms with one). Such work therefore runs on one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
