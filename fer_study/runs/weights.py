"""A run's weights: the final model, in a self-describing file (``save_weights``: the registered model's
name, its keyword arguments and the state dict), and the one way back to a model (``load_model``).

Training writes every run's weights to ``checkpoints/<name>/model.pt`` (``weights_file``; never committed)
and records their size and sha256 in ``metrics.json``; the weights the recognizer ships are copied into
the run folder (``publish_weights``) and committed. ``weights_path`` finds either.

"Weights" are the final model; the state training resumes from is the epoch checkpoint
(``fer_study.runs.checkpoint``).
"""

import shutil
from pathlib import Path

import torch
import yaml
from torch import nn

from fer_study.core import paths
from fer_study.core.files import atomic_write, file_sha256
from fer_study.models import create_model
from fer_study.runs.folder import CONFIG_FILE, METRICS_FILE, Run, read_metrics, run_folder

WEIGHTS_NAME = "model.pt"
WEIGHTS_FORMAT = "fer-study weights 1"


def weights_file(tier: str, name: str) -> Path:
    """Where training writes a run's weights: ``checkpoints/<name>/model.pt`` (smoke runs: ``scratch/``)."""
    return paths.checkpoints_dir_for(tier) / name / WEIGHTS_NAME


def weights_path(run_path: Path) -> Path | None:
    """A run's weights: the published ``<run>/model.pt``, else the local copy training wrote
    (``weights_file`` of the run's tier); ``None`` when neither exists. A folder without ``metrics.json``
    (weights copied by hand beside a config) has only the published file."""
    run_path = Path(run_path)
    if (run_path / WEIGHTS_NAME).is_file():
        return run_path / WEIGHTS_NAME
    if not (run_path / METRICS_FILE).is_file():
        return None
    local = weights_file(read_metrics(run_path).tier, run_path.name)
    return local if local.is_file() else None


def has_weights(run: Run) -> bool:
    """Whether ``load_model`` can rebuild the run's model here (``weights_path``)."""
    return weights_path(run.path) is not None


def save_weights(path: Path, model_name: str, model_kwargs: dict, state_dict: dict) -> Path:
    """A self-describing weights file, written atomically: the registered model name, its keyword arguments
    and the state dict (on the CPU), so the file alone rebuilds the model."""
    # Saved through a file handle: given a path, torch.save names the archive inside after the file, here a
    # random temporary name, so the same weights would get a different sha256 each time they are written.
    with atomic_write(Path(path)) as tmp, open(tmp, "wb") as handle:
        torch.save({"format": WEIGHTS_FORMAT, "model": model_name, "model_kwargs": dict(model_kwargs),
                    "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()}}, handle)
    return Path(path)


def load_weights(path: Path) -> tuple[dict, str | None, dict]:
    """(state dict, model name, model kwargs) of a weights file; files written before weights described
    themselves hold a bare state dict and give ``(state dict, None, {})``."""
    content = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(content, dict) and content.get("format") == WEIGHTS_FORMAT:
        return content["state_dict"], content["model"], content["model_kwargs"]
    return content, None, {}


def load_model(run_or_path: Run | str | Path, runs_dir: Path | None = None, verified: bool = False) -> nn.Module:
    """The model of a run, built and loaded, in eval mode, on the CPU.

    ``run_or_path``: a ``Run``, a run folder or a run name under ``runs_dir`` (its ``weights_path``), or a
    weights file. The model is the one the weights file names with its keyword arguments; a bare state dict
    (weights written before files described themselves) is rebuilt from its run's ``config.yaml``.
    ``verified``: refuse weights whose sha256 differs from the one the run's ``metrics.json`` recorded at
    training time (``check_weights``; a run folder or name only), as a run that continues another must.
    """
    if isinstance(run_or_path, Run):
        folder = run_or_path.path
    elif Path(run_or_path).is_file():
        folder = None
    else:
        folder = run_folder(run_or_path, runs_dir)
    if verified and folder is None:
        raise ValueError(f"{run_or_path}: only a run's weights can be verified; give its run folder or name")
    path = Path(run_or_path) if folder is None else weights_path(folder)
    if path is None:
        raise FileNotFoundError(f"run {folder.name!r} has no weights: neither {folder / WEIGHTS_NAME} nor a "
                                "local copy from training (fer_study.runs.weights_file)")
    if verified:
        check_weights(path, folder)
    state_dict, model_name, model_kwargs = load_weights(path)
    if model_name is None:
        if folder is None:
            raise ValueError(f"{path} holds a bare state dict: give its run folder, whose config.yaml names the "
                             "model")
        config = yaml.safe_load((folder / CONFIG_FILE).read_text())
        model_name, model_kwargs = config["model"], config.get("model_kwargs") or {}
    model = create_model(model_name, **model_kwargs)
    model.load_state_dict(state_dict)
    return model.eval()


def check_weights(path: Path, run_path: Path) -> None:
    """Refuse a weights file whose sha256 differs from the one ``run_path``'s ``metrics.json`` recorded when
    the run trained: a local copy left by another training of the same name is not the run's weights."""
    recorded = read_metrics(run_path).weights_sha256
    digest = file_sha256(path)
    if digest != recorded:
        raise ValueError(f"{path}: sha256 {digest} differs from the {recorded} that {Path(run_path) / METRICS_FILE} "
                         "recorded; these are not the run's weights")


def publish_weights(name: str, runs_dir: Path | None = None) -> Path:
    """Copy a run's local weights into its run folder (to be committed), after checking them against the
    size and sha256 that its ``metrics.json`` recorded at training time."""
    run_path = (runs_dir or paths.RUNS_DIR) / name
    source = weights_file(read_metrics(run_path).tier, name)
    if not source.is_file():
        raise FileNotFoundError(f"run {name!r}: no local weights at {source} to publish")
    check_weights(source, run_path)
    with atomic_write(run_path / WEIGHTS_NAME) as tmp:
        shutil.copyfile(source, tmp)
    return run_path / WEIGHTS_NAME
