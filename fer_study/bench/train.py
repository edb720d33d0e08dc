"""``python -m fer_study.bench train [--models a,b] [--batch-size N] [--batches N] [--workers N]
[--precision P]``:
training speed of the project's engine beside a plain torchvision pipeline, per model, on this device.

Per model, in one process, on the same faces and from the same initial weights:

- **engine**: the faces as one uint8 tensor on the device, batched augmentation on the device and the
  training loop's own epoch (``fer_study.train.loop.train_one_epoch``) in the ``--precision`` a run
  config would set (default bfloat16 autocast, which CPUs with AMX or AVX512-BF16 compute several times
  faster than float32);
- **plain**: the same faces written as PNG files into a temporary ``ImageFolder``, read with PIL through
  a ``DataLoader`` with torchvision transforms of the same kind (gray, flip, affine jitter, ToTensor),
  each batch moved to the device and given to the same step (``train_step``) in float32, as a
  torchvision tutorial loop computes. ``--precision float32`` leaves only the data pipelines different.

Images/s leave out one warm-up batch per pipeline. Without loader processes (the CPU default) the two
pipelines take turns batch by batch, so a shared machine's changing load falls on both alike. FLOPs per
image are the forward and backward FLOPs of one training step, counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; element-wise work is not
counted), so achieved GFLOP/s = images/s x FLOPs per image. The machine's matmul GFLOP/s is the median
of timed square matrix products in the dtype the engine computes in (bfloat16 under autocast, else
float32); ``engine_of_matmul_pct`` is the engine's share of it.

Faces are FER2013 training images when the FER2013 cache exists, else synthetic images. On a shared
machine wall-clock speed depends on what else runs: the load average is printed beside the table.
"""

import argparse
import copy
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from fer_study.core.constants import CLASS_NAMES
from fer_study.core.devices import resolve_device
from fer_study.data.samples import sample_faces
from fer_study.data.tensors import AugmentConfig, SplitTensors
from fer_study.models import create_model, list_models
from fer_study.train.config import PRECISIONS, TrainConfig
from fer_study.train.flops import training_flops_per_image
from fer_study.train.loop import (
    cpu_has_bfloat16_arithmetic,
    resolved_precision,
    train_one_epoch,
    train_step,
    training_model,
)
from fer_study.train.optim import build_optimizer, build_scheduler

# The CPU-tier models; the paper models at 224 px take minutes per batch on a 2-core CPU.
DEFAULT_MODELS = ("vgg_cpu", "resemotenet_s", "mini_xception")
# Small on CPU so a model takes well under a minute; on CUDA enough batches that the plain loader's
# prefetching during the warm-up batch does not flatter it.
DEFAULT_BATCH_SIZE = {"cpu": 32, "cuda": 256}
DEFAULT_BATCHES = {"cpu": 3, "cuda": 50}
# The plain pipeline's loader processes: none on CPU, where every core is already busy with the model's
# arithmetic; on CUDA one per core up to 8, a generous setting for a tutorial-style loader.
MAX_CUDA_WORKERS = 8
MATMUL_SIDE = {"cpu": 1024, "cuda": 8192}
DEFAULT_PRECISION = "bfloat16"
PLAIN_PRECISION = "float32"
MATMUL_REPEATS = 10


def matmul_gflops(device: torch.device, precision: str) -> float:
    """Median GFLOP/s of square matrix products on ``device`` in the dtype ``precision`` computes in."""
    side = MATMUL_SIDE[device.type]
    dtype = getattr(torch, resolved_precision(precision, device))
    a = torch.randn(side, side, device=device).to(dtype)
    b = torch.randn(side, side, device=device).to(dtype)
    seconds = []
    for repeat in range(MATMUL_REPEATS + 1):
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        if repeat:  # the first product pays for allocation and kernel selection
            seconds.append(time.perf_counter() - start)
    return 2 * side**3 / statistics.median(seconds) / 1e9


def engine_batches(model: torch.nn.Module, config: TrainConfig, faces: np.ndarray, labels: np.ndarray,
                   device: torch.device) -> Iterator[int]:
    """Train with the loop's own epoch function on ``faces`` held as uint8 on the device, one batch per
    step of the iterator; yields the images trained on."""
    images = torch.from_numpy(faces).unsqueeze(1).to(device)
    targets = torch.from_numpy(labels).to(device)
    ids = np.arange(len(faces)).astype(str)
    optimizer = build_optimizer(config.optimizer, model, config.lr, config.weight_decay)
    scheduler = build_scheduler(config.scheduler, optimizer, config.lr, config.epochs, 1)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch, start in enumerate(range(0, len(faces) - config.batch_size + 1, config.batch_size)):
        batch = slice(start, start + config.batch_size)
        data = SplitTensors(images[batch], targets[batch], targets[batch], ids[batch])
        train_one_epoch(model, data, config, epoch, optimizer, scheduler, loss_fn, device)
        yield config.batch_size


def engine_model(initial: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.nn.Module:
    """A copy of ``initial`` placed and compiled as the training loop does (``training_model``)."""
    return training_model(copy.deepcopy(initial), config, device)


def plain_batches(model: torch.nn.Module, config: TrainConfig, folder: Path, workers: int,
                  device: torch.device) -> Iterator[int]:
    """Train through an ImageFolder + PIL DataLoader and ``train_step``, one batch per step of the
    iterator; yields the images trained on.

    ImageFolder numbers the class folders present alphabetically; what the labels mean does not change
    the arithmetic being timed."""
    loader = DataLoader(datasets.ImageFolder(str(folder), transform=plain_transform(config.augment)),
                        batch_size=config.batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda")
    optimizer = build_optimizer(config.optimizer, model, config.lr, config.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        _, loss = train_step(model, images, labels, optimizer, loss_fn, 0.0, PLAIN_PRECISION)
        loss.item()  # a plain loop reads the loss every batch, as the engine does
        yield len(images)


def images_per_second(pipelines: dict[str, Iterator[int]], batches: int, interleave: bool,
                      device: torch.device) -> dict[str, float]:
    """Images/s of each pipeline over ``batches`` batches after one warm-up batch each.

    Interleaved, the pipelines take turns batch by batch, so a shared machine's changing load falls on
    both alike. Loader processes would prefetch while the other pipeline runs, so with them the pipelines
    run one after the other."""
    rounds = range(batches + 1)
    schedule = ([(round_, name) for round_ in rounds for name in pipelines] if interleave
                else [(round_, name) for name in pipelines for round_ in rounds])
    seconds, images = dict.fromkeys(pipelines, 0.0), dict.fromkeys(pipelines, 0)
    for round_, name in schedule:
        _synchronize(device)
        start = time.perf_counter()
        count = next(pipelines[name])
        _synchronize(device)
        if round_:  # round 0 warms up: allocation, kernel selection, loader start
            seconds[name] += time.perf_counter() - start
            images[name] += count
    return {name: images[name] / seconds[name] for name in pipelines}


def write_image_folder(root: Path, faces: np.ndarray, labels: np.ndarray) -> Path:
    """The faces as ``root/<class>/<index>.png``, the layout ``torchvision.datasets.ImageFolder`` reads."""
    for index, (face, label) in enumerate(zip(faces, labels, strict=True)):
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(folder / f"{index:06d}.png")
    return root


def plain_transform(augment: AugmentConfig) -> transforms.Compose:
    """The per-image PIL counterpart of the engine's batched augmentation."""
    return transforms.Compose([
        transforms.Grayscale(num_output_channels=1),
        transforms.RandomHorizontalFlip(0.5 if augment.flip else 0.0),
        transforms.RandomAffine(degrees=augment.rotation_degrees, translate=(augment.translate,) * 2,
                                scale=(1 - augment.scale, 1 + augment.scale)),
        transforms.ToTensor(),
    ])


def benchmark_table(models: list[str], batch_size: int | None = None, batches: int | None = None,
                    workers: int | None = None, device: str = "auto",
                    precision: str = DEFAULT_PRECISION, compile_model: bool = False) -> pd.DataFrame:
    """One row per model: engine and plain images/s, their ratio, achieved GFLOP/s and the matmul peak of
    the engine's ``precision``; with ``compile_model`` the engine trains a ``torch.compile``d model
    (``TrainConfig.compile_model``; compiling happens in the untimed first batches)."""
    device = resolve_device(device)
    batch_size = batch_size or DEFAULT_BATCH_SIZE[device.type]
    batches = batches or DEFAULT_BATCHES[device.type]
    if workers is None:
        workers = min(MAX_CUDA_WORKERS, os.cpu_count() or 1) if device.type == "cuda" else 0
    faces = sample_faces((batches + 1) * batch_size)
    peak = matmul_gflops(device, precision)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fer_bench_train_") as tmp:
        folder = write_image_folder(Path(tmp), faces.images, faces.labels)
        for name in models:
            config = TrainConfig(run_name="bench", model=name, batch_size=batch_size, epochs=1,
                                 scheduler="none", tier="smoke", precision=precision, compile_model=compile_model)
            torch.manual_seed(config.seed)
            initial = create_model(name, **config.model_kwargs)
            flops = training_flops_per_image(initial, config)
            speed = images_per_second(
                {"engine": engine_batches(engine_model(initial, config, device), config, faces.images,
                                          faces.labels, device),
                 "plain": plain_batches(copy.deepcopy(initial).to(device), config, folder, workers, device)},
                batches, interleave=workers == 0, device=device)
            engine, plain = speed["engine"], speed["plain"]
            rows.append({
                "model": name, "params_M": sum(p.numel() for p in initial.parameters()) / 1e6,
                "input_size": initial.input_size, "batch_size": batch_size,
                "engine_precision": resolved_precision(precision, device), "engine_compiled": compile_model,
                "gflop_per_image": flops / 1e9, "engine_img_s": engine, "plain_img_s": plain,
                "engine_vs_plain": engine / plain, "engine_gflop_s": engine * flops / 1e9,
                "plain_gflop_s": plain * flops / 1e9, "matmul_gflop_s": peak,
                "engine_of_matmul_pct": 100 * engine * flops / 1e9 / peak,
            })
    table = pd.DataFrame(rows)
    table.attrs = {"device": _device_description(device), "faces": faces.source, "batches": batches,
                   "workers": workers}
    return table


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    arithmetic = "with" if cpu_has_bfloat16_arithmetic() else "without"
    return f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores, {arithmetic} bfloat16 arithmetic)"


def _model_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown models {unknown}; registered: {', '.join(list_models())}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.bench train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=_model_names, default=list(DEFAULT_MODELS),
                        help=f"comma-separated registered models (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: 32 on CPU, 256 on CUDA)")
    parser.add_argument("--batches", type=int,
                        help="timed batches per pipeline (default: 3 on CPU, 50 on CUDA)")
    parser.add_argument("--workers", type=int, help="plain DataLoader processes (default: 0 on CPU, one per "
                                                    f"core up to {MAX_CUDA_WORKERS} on CUDA)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help=f"the engine's TrainConfig.precision (default: {DEFAULT_PRECISION}; "
                             f"the plain pipeline computes in {PLAIN_PRECISION})")
    parser.add_argument("--compile", action="store_true", help="train the engine's model through torch.compile")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    table = benchmark_table(args.models, args.batch_size, args.batches, args.workers, args.device,
                            args.precision, args.compile)
    info = table.attrs
    print(f"device: {info['device']}; faces: {info['faces']}; {info['batches']} timed batches per pipeline; "
          f"plain loader workers: {info['workers']}; load average {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.round(2).to_string(index=False))
    return 0
