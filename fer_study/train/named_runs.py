"""Train runs by name from their params files (``fer_study.runs.params_file``), as a chapter does when asked
to retrain its runs (``train = True``) rather than show the committed ones."""

from pathlib import Path

from fer_study.core import paths
from fer_study.data import FERDataset
from fer_study.runs import Run, committed_runs, params_file
from fer_study.train.config import TrainConfig
from fer_study.train.loop import fit


def train_runs(run_names: list[str], tier: str, runs_dir: str | Path | None = None,
               dataset: FERDataset | None = None) -> list[Path]:
    """Train the runs that have a config in ``params/<tier>/runs/``, in the given order (a fine-tuning stage
    after its parent, which the loop looks up in ``results/runs``); return their run folders. Names without
    a config in that tier are skipped, with a line saying so."""
    written = []
    for name in run_names:
        path = params_file(name, tier)
        if not path.is_file():
            print(f"{name}: no {tier}-tier config ({path.relative_to(paths.REPO_ROOT)}); not trained")
            continue
        config = TrainConfig.from_yaml(path, run_name=name)
        written.append(fit(config, dataset, runs_dir=Path(runs_dir) if runs_dir else None))
    return written


def load_or_train(run_names: list[str], tier: str, runs_dir: str | Path | None = None,
                  train: bool = False) -> list[Run]:
    """The committed runs among ``run_names`` (``fer_study.runs.committed_runs``), after training those with a
    ``tier`` config when ``train``."""
    if train:
        train_runs(run_names, tier, runs_dir)
    return committed_runs(run_names, runs_dir)
