"""The sweep's driver: which runs to train (``plan_runs``), training them on an executor and writing what
comes back (``run_sweep``), and the summary table.

Idempotent: a run folder that is complete (``fer_study.runs.is_complete``) and holds the identical config
is skipped; one holding a different config is
refused unless ``force``; a missing or incomplete one is trained, resuming from the run's epoch
checkpoint when one is there.
"""

import time
from dataclasses import dataclass, field
from glob import glob, has_magic
from pathlib import Path

import pandas as pd
import yaml

from fer_study.apps.sweep.costs import estimate_for, read_costs
from fer_study.apps.sweep.executors import STOPPED, Resources
from fer_study.apps.sweep.transfer import folder_files, write_file, write_folder
from fer_study.apps.sweep.worker import DEFERRED, DONE, FAILED, RunRequest, RunResult
from fer_study.core import paths
from fer_study.data import FERDataset, load_dataset
from fer_study.runs import WEIGHTS_NAME, is_complete, read_metrics, seed_run_name, weights_file, weights_path
from fer_study.train import TrainConfig

RUN, REPLACE, SKIP, REFUSE = "run", "replace", "skip", "refuse"
SKIPPED, REFUSED = "skipped", "refused"
# How often the driver looks at the time budget while it waits for runs.
POLL_SECONDS = 1.0


@dataclass
class PlannedRun:
    config: TrainConfig
    source: Path
    out_dir: Path
    action: str  # RUN, REPLACE (--force), SKIP or REFUSE
    reason: str
    estimate_minutes: float | None = None

    @property
    def name(self) -> str:
        return self.config.run_name

    @property
    def folder(self) -> Path:
        return self.out_dir / self.name


def expand_config_paths(patterns: list[str]) -> list[Path]:
    """Config files named or matched by ``patterns``, in the order given, each once."""
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob(pattern)) if has_magic(pattern) else [pattern] if Path(pattern).is_file() else []
        if not matches:
            raise ValueError(f"{pattern}: no training config found there (expected a YAML file or a glob "
                             "such as params/cpu/runs/*.yaml)")
        found += [Path(match) for match in matches if Path(match) not in found]
    return found


def run_action(config: TrainConfig, folder: Path, force: bool) -> tuple[str, str]:
    """What to do with a run given what its folder holds: (RUN | REPLACE | SKIP | REFUSE, why)."""
    if not is_complete(folder):
        return RUN, "incomplete folder: resumes from its checkpoint" if folder.exists() else "new"
    saved = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    try:
        saved = TrainConfig.from_dict(saved).to_dict()  # defaults of settings added since it was written
    except (TypeError, ValueError):
        pass
    wanted = config.to_dict()
    if saved == wanted:
        return SKIP, "complete with the identical config"
    changed = sorted(key for key in set(saved) | set(wanted) if saved.get(key) != wanted.get(key))
    if force:
        return REPLACE, f"--force: replaces a complete run whose config differs in {changed}"
    return REFUSE, (f"{folder} holds a complete run whose config differs in {changed}; "
                    "--force replaces it (or give the run another name)")


def plan_runs(patterns: list[str], out: Path | None = None, seeds: list[int] | None = None, force: bool = False,
              costs_file: Path | None = None) -> list[PlannedRun]:
    """One planned run per config (per seed with ``seeds``: the runs ``<stem>_seed<N>``), into ``out`` or its
    tier's runs folder (``paths.runs_dir_for``: smoke runs to ``scratch/``), with its estimated minutes from
    ``costs_file`` (default: the tier's ``params/<tier>/costs.yaml`` when there is one)."""
    plans = []
    for path in expand_config_paths(patterns):
        variants = [{"run_name": path.stem}] if seeds is None else [
            {"run_name": seed_run_name(path.stem, seed), "seed": seed} for seed in seeds]
        for overrides in variants:
            config = TrainConfig.from_yaml(path, **overrides)
            out_dir = Path(out) if out is not None else paths.runs_dir_for(config.tier)
            action, reason = run_action(config, out_dir / config.run_name, force)
            plans.append(PlannedRun(config, path, out_dir, action, reason))
    names = [plan.name for plan in plans]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"runs {duplicates} come from more than one config; each run needs its own name")
    for plan in plans:
        tier_costs = costs_file or paths.PARAMS_DIR / plan.config.tier / "costs.yaml"
        if Path(tier_costs).is_file():
            estimates = {row["run"]: row["gpu_minutes"] for row in read_costs(tier_costs)}
            plan.estimate_minutes = estimate_for(plan.name, estimates)
    return plans


@dataclass
class Outcome:
    name: str
    status: str
    folder: Path | None = None
    minutes: float | None = None
    host: str = ""
    error: str | None = None
    written: list[Path] = field(default_factory=list)  # the run folders this sweep wrote (run, snapshots)


def run_sweep(plans: list[PlannedRun], executor, command: list[str], gpus_per_run: float | None = None,
              time_budget: float | None = None, return_weights: bool = False,
              datasets: dict[str, FERDataset] | None = None) -> list[Outcome]:
    """Train the planned runs on ``executor`` (``RayExecutor`` or ``LocalExecutor``), in their order, writing
    every run folder that comes back whole into its ``out_dir``; the outcomes in plan order.

    ``gpus_per_run``: each run's share of a GPU (default one GPU when the executor has any, else none).
    ``time_budget``: seconds; a run whose estimate does not fit the time left is not started, and the
    runs still going when it is spent are stopped (their epoch checkpoints stay for the next sweep).
    ``datasets``: datasets already in memory by name (tests); the others are loaded from their caches."""
    started = time.time()
    deadline = started + time_budget if time_budget is not None else None
    gpu_share = _gpu_share(gpus_per_run, executor.gpu_count)
    outcomes: dict[str, Outcome] = {}
    for plan in plans:
        if plan.action == SKIP:
            outcomes[plan.name] = Outcome(plan.name, SKIPPED, plan.folder)
        elif plan.action == REFUSE:
            outcomes[plan.name] = Outcome(plan.name, REFUSED, error=plan.reason)
            print(f"{plan.name}: refused: {plan.reason}", flush=True)
    to_run = [plan for plan in plans if plan.action in (RUN, REPLACE)]
    for name in dict.fromkeys(plan.config.dataset for plan in to_run):
        preloaded = (datasets or {}).get(name)
        executor.add_dataset(name, preloaded if preloaded is not None else load_dataset(name))
    in_sweep = {plan.name: plan for plan in to_run}
    refused = {plan.name for plan in plans if plan.action == REFUSE}
    parents_needed = {plan.config.parent for plan in to_run if plan.config.parent in in_sweep}
    results: dict[str, RunResult] = {}
    waiting, running = list(to_run), set()

    def finish(result: RunResult) -> None:
        running.discard(result.name)
        results[result.name] = result
        outcomes[result.name] = _record(result, in_sweep[result.name])

    def submit_ready() -> bool:
        """Submit every waiting run whose parent (if trained in this sweep) has finished; True if any."""
        ready = [plan for plan in waiting if plan.config.parent not in in_sweep or plan.config.parent in results]
        for plan in ready:
            waiting.remove(plan)
            try:
                parent_result = _parent_result(plan, results, in_sweep, refused)
            except _ParentUnavailable as problem:
                finish(RunResult(plan.name, problem.status, error=str(problem)))
                continue
            request = RunRequest(plan.name, plan.config.to_dict(), command, replace=plan.action == REPLACE,
                                 return_weights=return_weights or plan.name in parents_needed,
                                 deadline=deadline, estimate_minutes=plan.estimate_minutes)
            resources = Resources(plan.config.num_threads or 1, 0.0 if plan.config.device == "cpu" else gpu_share)
            executor.submit(request, plan.config.dataset, parent_result, resources)
            running.add(plan.name)
        return bool(ready)

    while waiting or running:
        while submit_ready():
            pass
        if waiting and not running:  # each waits for another: parents that name each other
            for plan in waiting:
                finish(RunResult(plan.name, FAILED, error=f"its parent run {plan.config.parent!r} waits for it"))
            waiting.clear()
        timeout = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.time()))
        finished = executor.wait(timeout) if running else []
        if deadline is not None and time.time() >= deadline and not finished:
            finished = executor.stop() + [RunResult(plan.name, DEFERRED, error="not started before the time "
                                                    "budget ran out") for plan in waiting]
            waiting.clear()
        for result in finished:
            finish(result)
    return [outcomes[plan.name] for plan in plans]


class _ParentUnavailable(Exception):
    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


def _parent_result(plan: PlannedRun, results: dict[str, RunResult], in_sweep: dict[str, PlannedRun],
                   refused: set[str]) -> RunResult | None:
    """What a fine-tuning stage starts from: its parent's result when the sweep trained it, else its
    parent's folder and weights on disk; ``_ParentUnavailable`` (with the status the stage takes) when
    there is nothing to start from."""
    parent = plan.config.parent
    if not parent:
        return None
    if parent in refused:
        raise _ParentUnavailable(f"its parent run {parent!r} was refused", FAILED)
    if parent in in_sweep:
        result = results[parent]
        if result.status != DONE:
            raise _ParentUnavailable(f"its parent run {parent!r} did not finish ({result.status})",
                                     FAILED if result.status == FAILED else DEFERRED)
        return result
    return _parent_from_disk(plan)


def _gpu_share(gpus_per_run: float | None, gpu_count: float) -> float:
    if gpus_per_run is None:
        return 1.0 if gpu_count else 0.0
    if gpus_per_run > 0 and not gpu_count:
        raise ValueError(f"--gpus-per-run {gpus_per_run}: the executor has no GPU")
    return gpus_per_run


def _parent_from_disk(plan: PlannedRun) -> RunResult | None:
    """A fine-tuning stage's parent that is not trained in this sweep: its run folder in the stage's
    ``out_dir`` and its weights, sent to the worker (which need not see this machine's files)."""
    if not plan.config.parent:
        return None
    folder = plan.out_dir / plan.config.parent
    if not is_complete(folder):
        raise _ParentUnavailable(f"its parent run {plan.config.parent!r} is neither in this sweep nor complete "
                                 f"in {plan.out_dir}", FAILED)
    weights = weights_path(folder)
    if weights is None:
        # Weights are committed only for the recognizer's runs: a parent trained on another machine has none here.
        raise _ParentUnavailable(
            f"its parent run {plan.config.parent!r} is complete in {plan.out_dir}, but its weights are not on this "
            f"machine (neither {folder / WEIGHTS_NAME} nor {weights_file(plan.config.tier, folder.name)}): train "
            "the parent's config again with --out <another folder> --with-weights to rebuild them; the stage starts "
            "only from weights with the sha256 the parent recorded", FAILED)
    files = {name: data for name, data in folder_files(folder).items() if name != WEIGHTS_NAME}
    return RunResult(plan.config.parent, DONE, {folder.name: files}, {folder.name: weights.read_bytes()})


def _record(result: RunResult, plan: PlannedRun) -> Outcome:
    """Write a finished run's folders (and weights, when returned) and say what happened."""
    if result.status != DONE:
        label = {FAILED: "FAILED", DEFERRED: "not started", STOPPED: "stopped"}.get(result.status, result.status)
        print(f"{result.name}: {label}: {result.error}", flush=True)
        return Outcome(result.name, result.status, minutes=result.minutes, host=result.host, error=result.error)
    written = [write_folder(plan.out_dir / name, files) for name, files in result.folders.items()]
    for name, data in result.weights.items():  # where training on this machine would have written them
        write_file(weights_file(plan.config.tier, name), data)
    metrics = read_metrics(plan.folder)
    print(f"{result.name}: done in {result.minutes:.1f} min on {result.host}: val {metrics.val_accuracy:.4f}, "
          f"test {metrics.test_accuracy:.4f} -> {plan.folder}", flush=True)
    return Outcome(result.name, DONE, plan.folder, result.minutes, result.host, written=written)


def summary_table(outcomes: list[Outcome]) -> pd.DataFrame:
    """Run, status, epochs, validation and test accuracy, minutes (this sweep's, for runs it trained)."""
    rows = []
    for outcome in outcomes:
        row = {"run": outcome.name, "status": outcome.status, "minutes": outcome.minutes}
        if outcome.folder is not None and is_complete(outcome.folder):  # a run that did not finish has no metrics
            metrics = read_metrics(outcome.folder)
            row |= {"epochs": metrics.epochs, "val": metrics.val_accuracy, "test": metrics.test_accuracy}
        rows.append(row)
    table = pd.DataFrame(rows, columns=["run", "status", "epochs", "val", "test", "minutes"])
    return table.astype({"epochs": float, "val": float, "test": float, "minutes": float})


def summary_text(outcomes: list[Outcome]) -> str:
    """``summary_table`` as printed at the end of a sweep ("-" where a run has no value)."""
    def shown(digits: int):
        return lambda value: "-" if pd.isna(value) else f"{value:.{digits}f}"

    return summary_table(outcomes).to_string(index=False, na_rep="-", formatters={
        "epochs": shown(0), "val": shown(4), "test": shown(4), "minutes": shown(1)})
