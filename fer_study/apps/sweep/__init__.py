"""The run matrix on a distributed engine: ``python -m fer_study.apps.sweep CONFIG_OR_GLOB...`` trains many run
configs at once, as Ray tasks (an embedded local Ray, or a cluster with ``--address``) or local processes,
and the full tier on one lent GPU (``python -m fer_study.apps.sweep.full_tier``).

- ``driver``: which runs to train (skip, resume, refuse), the order, the summary table;
- ``worker``: one run as a worker executes it (the training loop, ``fer_study.train.fit``), returning its
  run folders as bytes, so workers need no filesystem in common with the driver;
- ``executors``: ``RayExecutor`` and ``LocalExecutor`` (several runs packed on a GPU, no Ray needed);
- ``transfer``: run folders written whole or not at all, packed into archives and unpacked;
- ``costs``: estimated GPU-minutes per run from the FLOPs the bench counts, and the full tier's order.
"""

from fer_study.apps.sweep.driver import plan_runs, run_sweep, summary_table

__all__ = ["plan_runs", "run_sweep", "summary_table"]
