"""``python -m fer_study.bench cost --out results/bench/model_cost_cpu.csv``: what each registered model costs
to run where the recognizer runs, CPU milliseconds per face, measured on a freshly built model.

The book reads the committed file (``committed_costs``) for its cost columns and plots, so building a chapter
neither builds a model nor times one on whatever else the machine is doing; ``fer_study.analysis.ensemble``
itself reads run folders only. The file opens with its provenance line and the machine's load.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from fer_study.bench import out_folder_missing, provenance
from fer_study.core import paths
from fer_study.core.constants import IMAGE_SIZE
from fer_study.core.devices import torch_threads
from fer_study.core.files import read_commented_csv, write_commented_csv
from fer_study.models import create_model, list_models, parameter_count

COMMITTED = paths.REPO_ROOT / "results" / "bench" / "model_cost_cpu.csv"
COST_COMMAND = f"python -m fer_study.bench cost --out {COMMITTED.relative_to(paths.REPO_ROOT)}"


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


def cost_table(models: list[str], repeats: int = 20) -> pd.DataFrame:
    """One row per model: its parameters and ``cpu_ms_per_image``."""
    return pd.DataFrame([{"model": name, "params": parameter_count(name),
                          "cpu_ms_per_image": cpu_ms_per_image(name, repeats)} for name in models])


def committed_costs(path: Path = COMMITTED) -> pd.Series:
    """CPU ms per image of each model measured in the committed file (empty when there is none)."""
    if not path.is_file():
        return pd.Series(dtype=float, name="cpu_ms_per_image")
    _, table = read_commented_csv(path)
    return table.set_index("model")["cpu_ms_per_image"]


def main(argv: list[str]) -> int:
    # Imported here: the book imports this module for ``committed_costs`` and should not load the recognizer.
    from fer_study.apps.recognize.cli import positive_int

    parser = argparse.ArgumentParser(prog="python -m fer_study.bench cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list_models(), choices=list_models(), metavar="MODEL",
                        help="registered models to time (default: all)")
    parser.add_argument("--repeats", type=positive_int, default=20,
                        help="timed calls per model (their median is kept)")
    parser.add_argument("--out", type=Path, help=f"also write the table as CSV (committed: {COMMITTED.name})")
    args = parser.parse_args(argv)
    if out_folder_missing(args.out):
        return 2
    load = f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start"
    table = cost_table(args.models, args.repeats)
    print(load)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    if args.out is not None:
        write_commented_csv(args.out, [provenance(["cost", *argv]), load], table.round(3))
    return 0
