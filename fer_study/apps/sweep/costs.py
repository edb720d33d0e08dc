"""What a run costs on a GPU, estimated from the FLOPs the bench counts, and the order of the full tier.

A run's GPU-minutes are its arithmetic divided by an achieved throughput, plus a fixed time per
optimisation step::

    train FLOPs   = epochs x train images x FLOPs per training image    (fer_study.bench.train counts these)
    eval FLOPs    = (epochs x val images + (val + test images) x (1 + TTA views)) x forward FLOPs per image
    minutes       = (train FLOPs + eval FLOPs) / achieved FLOP/s / 60 + epochs x steps x step overhead / 60

The forward pass is taken as a third of a training step's FLOPs (the backward pass costs about twice the
forward: Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section 2.1). Epochs are the
config's, so early stopping only makes a run cheaper than its estimate.

Until a GPU is lent, the throughput and step overhead are assumptions (``basis: estimate`` in the costs
file): a share of the H200's datasheet peak, since small-image CNNs at batch 16-64 reach a small share
of it. Once ``python -m fer_study.bench train --device cuda`` has measured the engine's achieved TFLOP/s,
``python -m fer_study.apps.sweep.full_tier costs --achieved-tflops X --basis "measured: <bench output>"``
writes the file anew with ``basis`` saying so.
"""

from datetime import UTC, datetime
from pathlib import Path

import torch
import yaml

from fer_study.core import paths
from fer_study.data import load_dataset
from fer_study.data.tensors import split_tensors
from fer_study.models import create_model
from fer_study.runs import recipe_and_seed
from fer_study.train import TrainConfig
from fer_study.train.flops import training_flops_per_image
from fer_study.train.tta import tta_views

# The report's headline models first (ResEmoteNet, the RMN trio it reproduced: RMN, CBAM-ResNet50 and
# ResNet34, VGGNet, EmoNeXt-T, PAtt-Lite); the rest follow, cheapest first.
HEADLINE_RUNS = ("resemotenet", "resmasking_dropout1", "cbam_resnet50", "resnet34", "vggnet", "emonext_tiny",
                 "pattlite")
# NVIDIA H200 datasheet: 989 TFLOP/s dense BF16 on tensor cores (1,979 with sparsity).
H200_BF16_DENSE_TFLOPS = 989.0
# Assumptions until measured: 10 % of that peak, and 3 ms per optimisation step for kernel launches and
# the optimizer (hundreds of small kernels per step at a few microseconds each).
ASSUMED_PEAK_SHARE = 0.10
ASSUMED_STEP_OVERHEAD_MS = 3.0
FORWARD_SHARE_OF_TRAINING = 1 / 3
DEFAULT_COSTS_FILE = paths.PARAMS_DIR / "full" / "costs.yaml"


def run_cost(config: TrainConfig, train_flops_per_image: float, images: dict[str, int], achieved_tflops: float,
             step_overhead_ms: float) -> dict:
    """One costs-file row: the quantities behind the estimate and the estimated GPU-minutes."""
    steps = max(1, images["train"] // config.batch_size)
    views = len(tta_views(torch.zeros(1, 1, 48, 48), config.tta, config.tta_crop)) if config.tta != "none" else 0
    forward = train_flops_per_image * FORWARD_SHARE_OF_TRAINING
    flops = (config.epochs * images["train"] * train_flops_per_image
             + (config.epochs * images["val"] + (images["val"] + images["test"]) * (1 + views)) * forward)
    seconds = flops / (achieved_tflops * 1e12) + config.epochs * steps * step_overhead_ms / 1000
    return {"run": config.run_name, "model": config.model, "dataset": config.dataset, "epochs": config.epochs,
            "batch_size": config.batch_size, "train_images": images["train"], "tta_views": views,
            "gflop_per_train_image": round(train_flops_per_image / 1e9, 4),
            "gpu_minutes": round(seconds / 60, 2)}


def split_sizes(config: TrainConfig) -> dict[str, int]:
    """Images the run trains on (its ``train_splits``, ``limit_train``) and evaluates on, from its dataset."""
    dataset = load_dataset(config.dataset)
    cpu = torch.device("cpu")
    return {"train": len(split_tensors(dataset, config.train_splits, cpu, limit=config.limit_train)),
            "val": len(split_tensors(dataset, ("val",), cpu)), "test": len(split_tensors(dataset, ("test",), cpu))}


def estimate_costs(config_paths: list[Path], achieved_tflops: float, step_overhead_ms: float) -> list[dict]:
    """Rows for the configs, in value order (``value_order``)."""
    rows, flops_by_model, sizes_by_data = [], {}, {}
    for path in config_paths:
        config = TrainConfig.from_yaml(path, run_name=Path(path).stem)
        # Weights do not change the arithmetic; counting never loads (or downloads) them.
        model_kwargs = {k: v for k, v in config.model_kwargs.items() if k != "pretrained"}
        model_key = (config.model, repr(sorted(model_kwargs.items())))
        if model_key not in flops_by_model:
            torch.manual_seed(0)
            flops_by_model[model_key] = training_flops_per_image(create_model(config.model, **model_kwargs), config)
        data_key = (config.dataset, config.train_splits, config.limit_train)
        if data_key not in sizes_by_data:
            sizes_by_data[data_key] = split_sizes(config)
        rows.append(run_cost(config, flops_by_model[model_key], sizes_by_data[data_key], achieved_tflops,
                             step_overhead_ms))
    return value_order(rows)


def value_order(rows: list[dict]) -> list[dict]:
    """Headline runs in ``HEADLINE_RUNS`` order, then the others cheapest first."""
    headline = sorted((row for row in rows if row["run"] in HEADLINE_RUNS), key=lambda r: HEADLINE_RUNS.index(r["run"]))
    rest = sorted((row for row in rows if row["run"] not in HEADLINE_RUNS), key=lambda r: (r["gpu_minutes"], r["run"]))
    return headline + rest


def write_costs(path: Path, rows: list[dict], achieved_tflops: float, step_overhead_ms: float, basis: str,
                command: str) -> Path:
    document = {
        "basis": basis,
        "device": "NVIDIA H200 (one GPU)",
        "achieved_tflops": achieved_tflops,
        "step_overhead_ms": step_overhead_ms,
        "generated": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by: {command}",
        "formula": "see fer_study/apps/sweep/costs.py",
        "runs": rows,
    }
    header = ("# Estimated GPU-minutes per full-tier run, in the order a lease runs them (most valuable first).\n"
              "# Generated by `python -m fer_study.apps.sweep.full_tier costs`; do not edit by hand.\n")
    path = Path(path)
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, width=120))
    return path


def read_costs(path: Path) -> list[dict]:
    """The rows of a costs file, in its order; a clear error for a file without them."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read costs file ({error})") from error
    rows = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"run", "gpu_minutes"} <= set(r) for r in rows):
        raise ValueError(f"{path}: expected 'runs:' a list of mappings with 'run' and 'gpu_minutes'")
    return rows


def estimate_for(run_name: str, estimates: dict[str, float]) -> float | None:
    """A run's estimated minutes; a seed run ``<recipe>_seed<N>`` costs what its recipe costs."""
    return estimates.get(run_name, estimates.get(recipe_and_seed(run_name)[0]))
