"""Run folders: ``runs/`` owns a run. ``results/runs/<name>/`` holds everything a table or an ensemble needs.

- ``config.yaml``: the resolved training configuration (rebuilds the model and the run).
- ``history.csv``: one row per epoch (losses, accuracies, learning rate, seconds).
- ``metrics.json``: model, dataset, tier, device, epochs, train_seconds, val/test accuracy (with and
  without TTA), macro-F1, git commit, command, ... (read typed: ``RunMetrics``).
- ``predictions.npz``: for ``val`` and ``test`` (and ``other_test_split(dataset)``, ``<dataset>_test``, for
  another dataset's test split):
  ``{split}_ids_sha256`` (the digest of the image ids scored, in order; folders written before hold the
  ids, ``{split}_ids``), ``{split}_labels``, ``{split}_logits`` and, when TTA was evaluated,
  ``{split}_logits_tta``; logits in ``CLASS_NAMES`` order.
- ``model.pt`` only for the runs whose weights the recognizer ships (``publish_weights``); every run's
  weights are written to ``checkpoints/<name>/model.pt`` (never committed), and ``metrics.json`` records
  their size and sha256, so a copy found elsewhere can be checked.

Modules: ``folder`` (the folder's files, completeness, atomic save and load, a run's params file and
provenance), ``metrics`` (typed ``metrics.json``), ``weights`` (the self-describing weights file and
``load_model``), ``checkpoint`` (the epoch state training resumes from), ``evidence`` (which runs are
evidence and the rule for choosing one), ``titles`` (what a reader sees instead of a run's folder name).
Their public names are importable from ``fer_study.runs``.

Seeds: a run named ``<recipe>_seed<N>`` is the params file ``<recipe>.yaml`` trained with ``seed: N``
(``python -m fer_study.train params/cpu/runs/<recipe>.yaml --seed N``).
"""

from fer_study.runs.checkpoint import EpochCheckpoint, checkpoint_file, load_checkpoint, save_checkpoint
from fer_study.runs.evidence import (
    PREDICTION_SPLITS,
    RESULT_TIERS,
    TEST_SELECTED_PRETRAINED,
    UNDERFIT_TRAIN_ACCURACY,
    accuracy,
    best_on_validation,
    committed_runs,
    has_tta,
    held_out_validation,
    is_underfit,
    load_runs,
    snapshots_by_source,
    snapshots_of,
    starts_from_test_selected_weights,
    underfit_reasons,
    underfit_runs,
)
from fer_study.runs.folder import (
    IDS_DIGEST,
    RUN_FILES,
    STORED_IDS,
    Run,
    command_line,
    git_commit,
    ids_digest,
    is_complete,
    list_runs,
    load_run,
    other_test_split,
    params_file,
    read_metrics,
    recipe_and_seed,
    run_folder,
    save_run,
    seed_run_name,
)
from fer_study.runs.metrics import MissingMetric, RunMetrics
from fer_study.runs.titles import run_title, run_titles, run_titles_text
from fer_study.runs.weights import (
    WEIGHTS_NAME,
    has_weights,
    load_model,
    load_weights,
    publish_weights,
    save_weights,
    weights_file,
    weights_path,
)

__all__ = [
    "IDS_DIGEST", "PREDICTION_SPLITS", "RESULT_TIERS", "RUN_FILES", "STORED_IDS", "TEST_SELECTED_PRETRAINED",
    "UNDERFIT_TRAIN_ACCURACY", "WEIGHTS_NAME", "EpochCheckpoint", "MissingMetric", "Run", "RunMetrics", "accuracy",
    "best_on_validation",
    "checkpoint_file", "command_line", "committed_runs", "git_commit", "has_tta", "has_weights",
    "held_out_validation", "ids_digest", "is_complete", "is_underfit", "list_runs", "load_checkpoint",
    "load_model", "load_run", "load_runs", "load_weights", "other_test_split", "params_file", "publish_weights",
    "read_metrics",
    "recipe_and_seed", "run_folder", "run_title", "run_titles", "run_titles_text", "save_checkpoint", "save_run",
    "save_weights", "seed_run_name",
    "snapshots_by_source", "snapshots_of", "starts_from_test_selected_weights", "underfit_reasons", "underfit_runs",
    "weights_file", "weights_path",
]
