"""Where the runs of a sweep execute: Ray tasks (a cluster, or an embedded local Ray) or local processes
(one machine without Ray, such as the lent GPU machine, which has no package registry to install it).

Both take runs in the order given, each with the CPU threads and GPU fraction it asks for, run
``fer_study.apps.sweep.worker.train_run`` and hand back ``RunResult``s as runs finish. A worker process that
dies (killed, out of memory) is started again up to ``MAX_RETRIES`` times, and the run resumes from its
epoch checkpoint; a run that raises is not retried (its error comes back in its result).
"""

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fer_study.apps.sweep.worker import DEFERRED, FAILED, RunRequest, RunResult, train_run
from fer_study.core import paths
from fer_study.data import FERDataset

# Ray's own default for tasks whose worker dies; the local executor uses the same.
MAX_RETRIES = 3
STOPPED = "stopped"  # stopped at the time budget; its epoch checkpoint lets a later sweep resume it
# Seconds a local worker has to stop after SIGINT (it finishes writing a checkpoint) before SIGKILL.
STOP_GRACE_SECONDS = 10.0
# Not `python -m fer_study.apps.sweep.worker`: run as __main__, its RunResult would pickle as __main__.RunResult.
_WORKER_COMMAND = "import sys; from fer_study.apps.sweep.worker import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Resources:
    cpus: int
    gpus: float  # a fraction of one GPU, or whole GPUs


class RayExecutor:
    """Runs as Ray tasks: on an embedded local Ray started here (``address=None``), or on the cluster at
    ``address`` (``ray start --head`` prints it; see the README). Datasets go into Ray's object store once
    and reach the workers from there, so no worker needs the data on disk."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        import ray  # only here: the lent GPU machine has no Ray, and uses LocalExecutor

        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                     log_to_driver=True)
        self._task = ray.remote(train_run)
        self._datasets: dict[str, object] = {}
        self._pending: dict[object, str] = {}

    @property
    def gpu_count(self) -> float:
        return self._ray.cluster_resources().get("GPU", 0.0)

    def add_dataset(self, name: str, dataset: FERDataset) -> None:
        self._datasets[name] = self._ray.put(dataset)

    def submit(self, request: RunRequest, dataset_name: str, parent: RunResult | None,
               resources: Resources) -> None:
        # The task's name is its worker's process title (ray::sweep:<run>), so `ps` shows which run it is.
        ref = self._task.options(name=f"sweep:{request.name}", num_cpus=resources.cpus, num_gpus=resources.gpus,
                                 max_retries=MAX_RETRIES, retry_exceptions=False
                                 ).remote(request, self._datasets[dataset_name], parent)
        self._pending[ref] = request.name

    def wait(self, timeout: float) -> list[RunResult]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:  # and whatever else has finished meanwhile
            ready, _ = self._ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        return [self._result(ref) for ref in ready]

    def stop(self) -> list[RunResult]:
        """Cancel every unfinished run (a running one loses at most the epoch in progress); runs that have
        just finished come back with their results."""
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        stopped = [self._result(ref) for ref in ready]
        for ref, name in list(self._pending.items()):
            self._ray.cancel(ref, force=True)
            del self._pending[ref]
            stopped.append(RunResult(name, STOPPED, error="stopped at the time budget"))
        return stopped

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()

    def _result(self, ref) -> RunResult:
        name = self._pending.pop(ref)
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as error:  # the worker died more often than retried
            return RunResult(name, FAILED, error=f"{type(error).__name__}: {error}")


@dataclass
class _Job:
    request: RunRequest
    dataset_name: str
    parent: RunResult | None
    resources: Resources
    attempts: int = 0
    gpu: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    result_file: Path | None = None


class LocalExecutor:
    """Runs as local processes (``fer_study.apps.sweep.worker.main``), as many at once as the machine's CPU
    threads and GPUs hold: runs asking for 0.25 GPU go four to a GPU. A run that fits is started in the order
    given, a later smaller run filling room an earlier one cannot use."""

    def __init__(self, cpus: int | None = None, gpus: int | None = None):
        if gpus is None:
            import torch

            gpus = torch.cuda.device_count()
        self.cpus = cpus or os.cpu_count() or 1
        self._gpu_free = [1.0] * gpus
        self._cpus_free = self.cpus
        self._folder = tempfile.TemporaryDirectory(prefix="fer_sweep_")
        self._datasets: dict[str, Path] = {}
        self._queue: list[_Job] = []
        self._running: list[_Job] = []

    @property
    def gpu_count(self) -> float:
        return float(len(self._gpu_free))

    def add_dataset(self, name: str, dataset: FERDataset) -> None:
        path = Path(self._folder.name) / f"dataset_{name}.pkl"
        with open(path, "wb") as handle:
            pickle.dump(dataset, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._datasets[name] = path

    def submit(self, request: RunRequest, dataset_name: str, parent: RunResult | None,
               resources: Resources) -> None:
        if resources.gpus > 1 or (resources.gpus > 0 and not self._gpu_free):
            raise ValueError(f"run {request.name!r} asks for {resources.gpus} GPU; this machine has "
                             f"{len(self._gpu_free)} and a local run takes at most one")
        resources = Resources(min(resources.cpus, self.cpus), resources.gpus)
        self._queue.append(_Job(request, dataset_name, parent, resources))

    def wait(self, timeout: float) -> list[RunResult]:
        deadline = time.monotonic() + timeout
        while True:
            self._start_what_fits()
            finished = [result for job in list(self._running) if (result := self._collect(job)) is not None]
            if finished or (not self._running and not self._queue) or time.monotonic() >= deadline:
                return finished
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))

    def stop(self) -> list[RunResult]:
        """Interrupt the running workers (SIGINT, then SIGKILL after a grace period) and drop the queue; runs
        that have just finished come back with their results."""
        stopped = [result for job in list(self._running) if (result := self._collect(job)) is not None]
        for job in self._running:
            job.process.send_signal(signal.SIGINT)
        for job in self._running:
            try:
                job.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
            self._release(job)
            stopped.append(RunResult(job.request.name, STOPPED, error="stopped at the time budget"))
        stopped += [RunResult(job.request.name, DEFERRED, error="not started before the time budget ran out")
                    for job in self._queue]
        self._running, self._queue = [], []
        return stopped

    def close(self) -> None:
        self.stop()
        self._folder.cleanup()

    def _start_what_fits(self) -> None:
        for job in list(self._queue):
            gpu = self._gpu_for(job.resources.gpus)
            if job.resources.cpus <= self._cpus_free and (job.resources.gpus == 0 or gpu is not None):
                self._queue.remove(job)
                job.gpu = gpu if job.resources.gpus else None
                self._cpus_free -= job.resources.cpus
                if job.gpu is not None:
                    self._gpu_free[job.gpu] -= job.resources.gpus
                self._launch(job)
                self._running.append(job)

    def _gpu_for(self, fraction: float) -> int | None:
        # Rounding: four runs of 0.25 must fit one GPU.
        return next((i for i, free in enumerate(self._gpu_free) if free + 1e-9 >= fraction), None)

    def _launch(self, job: _Job) -> None:
        job.attempts += 1
        folder = Path(self._folder.name)
        request_file = folder / f"{job.request.name}.request.pkl"
        job.result_file = folder / f"{job.request.name}.result.{job.attempts}.pkl"
        with open(request_file, "wb") as handle:
            pickle.dump((job.request, self._datasets[job.dataset_name], job.parent), handle)
        # A run without a GPU share sees no GPU, as under Ray; threads as the run's share of the CPUs.
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "" if job.gpu is None else str(job.gpu),
               "OMP_NUM_THREADS": str(job.resources.cpus), "PYTHONUNBUFFERED": "1"}
        job.process = subprocess.Popen([sys.executable, "-c", _WORKER_COMMAND, str(request_file),
                                        str(job.result_file)], env=env, cwd=paths.REPO_ROOT)

    def _collect(self, job: _Job) -> RunResult | None:
        code = job.process.poll()
        if code is None:
            return None
        self._running.remove(job)
        self._release(job)
        if job.result_file.is_file():
            with open(job.result_file, "rb") as handle:
                return pickle.load(handle)
        if job.attempts <= MAX_RETRIES:
            print(f"{job.request.name}: worker process {job.process.pid} ended without a result "
                  f"(exit code {code}); starting it again (attempt {job.attempts + 1})", flush=True)
            self._queue.insert(0, job)
            return None
        return RunResult(job.request.name, FAILED, error=f"worker process ended without a result "
                                                         f"{job.attempts} times (last exit code {code})")

    def _release(self, job: _Job) -> None:
        self._cpus_free += job.resources.cpus
        if job.gpu is not None:
            self._gpu_free[job.gpu] += job.resources.gpus
            job.gpu = None
