"""The teachers' targets for knowledge distillation (``fer_study.train.distill``): the log of the mean softmax
of teacher runs on the unaugmented training images, saved as a small committed file.

``python -m fer_study.train.teachers RUN... --out results/teachers/NAME.npz`` uses runs whose weights are
available (``fer_study.runs.weights_path``).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from fer_study.data import FERDataset, load_dataset
from fer_study.data.tensors import split_tensors
from fer_study.runs import load_model, load_run
from fer_study.train.distill import save_teacher_targets
from fer_study.train.loop import predict_logits


@torch.inference_mode()
def teacher_log_probabilities(run_names: list[str], runs_dir: Path | None = None, splits: tuple[str, ...] = ("train",),
                              dataset: FERDataset | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, log of the members' mean softmax) on the unaugmented images of ``splits`` of the runs' dataset
    (loaded by name unless given)."""
    runs = [load_run(name, runs_dir) for name in run_names]
    datasets = {run.config["dataset"] for run in runs}
    if len(datasets) != 1:
        raise ValueError(f"teacher runs trained on different datasets {sorted(datasets)}: their targets would "
                         "not describe one training set")
    data = split_tensors(dataset if dataset is not None else load_dataset(datasets.pop()), splits,
                         torch.device("cpu"))
    probabilities = []
    for run in runs:
        logits = predict_logits(load_model(run), data.images, precision=run.config.get("precision", "auto"))
        probabilities.append(torch.from_numpy(logits).softmax(1))
    return data.ids.astype(str), torch.stack(probabilities).mean(0).clamp_min(1e-8).log().numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.train.teachers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="teacher runs (names under results/runs)")
    parser.add_argument("--out", type=Path, required=True, help="teacher targets file, e.g. results/teachers/x.npz")
    args = parser.parse_args(argv)
    ids, log_probabilities = teacher_log_probabilities(args.runs)
    print(f"teacher targets for {len(ids)} images written to "
          f"{save_teacher_targets(args.out, ids, log_probabilities, args.runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
