"""One run of a sweep, as a worker executes it: the existing training loop into a private folder, the run
folders it wrote returned as bytes (``RunResult``), so the worker needs no filesystem in common with the
driver.

The same function runs in a Ray task (``fer_study.apps.sweep.executors.RayExecutor``) and in a local process
(``main``, which ``LocalExecutor`` starts). It always calls ``fit`` with
``resume=True``: a worker that was killed and is started again continues from the epoch checkpoint
``checkpoints/<run>/last.pt`` on its machine, and ``fit``'s per-epoch seeding makes the resumed run end
with the metrics of an uninterrupted one.
"""

import pickle
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from fer_study.apps.sweep.transfer import folder_files, write_folder
from fer_study.core.files import atomic_write
from fer_study.data import FERDataset
from fer_study.runs import WEIGHTS_NAME, checkpoint_file, load_checkpoint, weights_file
from fer_study.train import TrainConfig, fit

DONE, FAILED, DEFERRED = "done", "failed", "deferred"


@dataclass
class RunRequest:
    """What a worker needs besides the dataset: the resolved config, and what the driver decided."""

    name: str
    config: dict  # TrainConfig.to_dict()
    command: list[str]  # the sweep's command line, recorded in metrics.json as what produced the run
    replace: bool = False  # --force: a checkpoint saved under another config is discarded, not refused
    return_weights: bool = False
    deadline: float | None = None  # time.time() by which the run must have finished
    estimate_minutes: float | None = None  # the whole run's estimated minutes (costs file)


@dataclass
class RunResult:
    name: str
    status: str  # DONE, FAILED or DEFERRED
    folders: dict[str, dict[str, bytes]] = field(default_factory=dict, repr=False)  # run folder -> files
    weights: dict[str, bytes] = field(default_factory=dict, repr=False)  # run folder -> model.pt bytes
    error: str | None = None
    minutes: float = 0.0
    host: str = ""


def checkpoint_state(config: TrainConfig) -> tuple[int, dict | None]:
    """(epochs done, config saved) of the run's epoch checkpoint on this machine; (0, None) without one."""
    path = checkpoint_file(config.tier, config.run_name)
    if not path.is_file():
        return 0, None
    checkpoint = load_checkpoint(path, mmap=True)
    return checkpoint.epoch, checkpoint.config


def train_run(request: RunRequest, dataset: FERDataset, parent: RunResult | None = None) -> RunResult:
    """Train ``request``'s run on ``dataset`` (its fine-tuning ``parent``'s folder and weights given when it
    has one) and return the run folders written (the run and its snapshots). A run that raises comes back
    as ``FAILED`` with its traceback; one that cannot finish before the deadline is not started
    (``DEFERRED``)."""
    started = time.time()
    host = platform.node()
    try:
        config = TrainConfig.from_dict(request.config)
        done_epochs, saved_config = checkpoint_state(config)
        if saved_config is not None and saved_config != config.to_dict() and request.replace:
            stale = checkpoint_file(config.tier, config.run_name)
            print(f"{request.name}: discarding {stale}, saved under the config being replaced", flush=True)
            stale.unlink()
            done_epochs = 0
        if request.deadline is not None and request.estimate_minutes is not None:
            remaining = request.estimate_minutes * (1 - done_epochs / max(config.epochs, 1))
            if started + remaining * 60 > request.deadline:
                return RunResult(request.name, DEFERRED, host=host,
                                 error=f"needs about {remaining:.1f} min, {max(request.deadline - started, 0) / 60:.1f}"
                                       f" min left")
        resuming = f", resuming after epoch {done_epochs}" if done_epochs else ""
        print(f"{request.name}: started on {host}{resuming}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"sweep_{request.name}_") as tmp:
            runs_dir = Path(tmp)
            if parent is not None:
                _place_parent(parent, runs_dir)
            fit(config, dataset, resume=True, runs_dir=runs_dir, command=request.command)
            own = {p.name for p in runs_dir.iterdir() if p.is_dir()} - set(parent.folders if parent else ())
            folders = {name: folder_files(runs_dir / name) for name in sorted(own)}
        weights = ({name: weights_file(config.tier, name).read_bytes() for name in folders}
                   if request.return_weights else {})
        return RunResult(request.name, DONE, folders, weights, minutes=(time.time() - started) / 60, host=host)
    except Exception:  # reported by the driver; the other runs go on
        return RunResult(request.name, FAILED, error=traceback.format_exc(), minutes=(time.time() - started) / 60,
                         host=host)


def _place_parent(parent: RunResult, runs_dir: Path) -> None:
    """The parent's run folder in the worker's runs folder, its weights as the published ``model.pt`` that
    ``fit`` looks for first (``fer_study.runs.weights_path``)."""
    if parent.status != DONE:
        raise RuntimeError(f"parent run {parent.name!r} did not finish ({parent.status}): {parent.error}")
    for name, files in parent.folders.items():
        extra = {WEIGHTS_NAME: parent.weights[name]} if name in parent.weights else {}
        write_folder(runs_dir / name, {**files, **extra})


def main(argv: list[str]) -> int:
    """``main([REQUEST.pkl, RESULT.pkl])``: the local executor's worker process.

    REQUEST.pkl holds ``(RunRequest, dataset file, parent RunResult or None)``; the dataset is pickled once
    per sweep in its own file. The result is written atomically, so its presence means the run returned."""
    request_file, result_file = argv
    with open(request_file, "rb") as handle:
        request, dataset_file, parent = pickle.load(handle)
    with open(dataset_file, "rb") as handle:
        dataset = pickle.load(handle)
    result = train_run(request, dataset, parent)
    with atomic_write(Path(result_file)) as tmp, open(tmp, "wb") as handle:
        pickle.dump(result, handle)
    return 0
