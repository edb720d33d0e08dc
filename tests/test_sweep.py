"""The sweep (``fer_study.apps.sweep``): planning (skip / resume / refuse), run folders written whole, packing
for the device, Ray tasks and local processes, a worker killed mid-run, a run that raises, the time budget.

Every Ray process runs on this machine (one embedded local Ray for the module, shut down at its end) and
every worker process is a child of the test. Runs train a tiny VGG on a tiny in-memory dataset (the
driver ships it to the workers, as it ships the real data to a cluster), checkpoints go to a temporary
``FER_SCRATCH``.
"""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fer_study.apps.sweep import __main__ as sweep_cli
from fer_study.apps.sweep import costs, driver, full_tier
from fer_study.apps.sweep.costs import estimate_for, read_costs, value_order
from fer_study.apps.sweep.driver import REFUSE, REPLACE, RUN, SKIP, plan_runs, run_sweep
from fer_study.apps.sweep.executors import LocalExecutor
from fer_study.apps.sweep.transfer import pack_folders, unpack_folders, write_folder
from fer_study.apps.sweep.worker import checkpoint_state
from fer_study.core import paths
from fer_study.data import FERDataset
from fer_study.runs import load_run, weights_file
from fer_study.train import TrainConfig
from tests.fixture_data import brightness_dataset

TINY = {"model": "vgg_cpu", "model_kwargs": {"widths": [8, 16]}, "dataset": "fer2013", "tier": "smoke",
        "epochs": 2, "batch_size": 16, "lr": 0.05, "seed": 7, "num_threads": 1, "tta": "none"}


@pytest.fixture(scope="module")
def tiny_dataset() -> FERDataset:
    """Seven classes, each a brightness level, under the name the configs ask for."""
    return brightness_dataset("fer2013")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Smoke runs' checkpoints in a temporary folder, for this process and every worker it starts."""
    folder = tmp_path_factory.mktemp("scratch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FER_SCRATCH", str(folder))
        patch.setattr(paths, "SCRATCH_DIR", folder)
        yield folder


@pytest.fixture(scope="module")
def ray_executor(scratch):
    """One embedded local Ray for the module's Ray tests (started after FER_SCRATCH is set, so its workers
    see it)."""
    import ray  # a pinned requirement: its absence is an error, not a skip

    from fer_study.apps.sweep.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True)
    try:
        yield RayExecutor()
    finally:
        ray.shutdown()


@pytest.fixture
def uses_tiny_data(monkeypatch, tiny_dataset):
    """The command-line paths load datasets in the driver: give them the tiny one."""
    monkeypatch.setattr(driver, "load_dataset", lambda name: tiny_dataset)


def write_config(folder: Path, name: str, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, **overrides}))
    return path


def descendants_matching(marker: str) -> list[int]:
    """Processes started (directly or not) by this test process whose command line contains ``marker``."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                commands[int(entry.name)] = command.decode("utf-8", "replace")
            except (OSError, IndexError, ValueError):
                continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, command in commands.items() if marker in command and ours(pid)]


def kill_after_first_checkpoint(run: str, marker: str, killed: list[int]) -> threading.Thread:
    """Kill (SIGKILL) the worker process of ``run`` once it has written its first epoch checkpoint."""
    checkpoint = paths.SCRATCH_DIR / "checkpoints" / run / "last.pt"

    def watch() -> None:
        give_up = time.time() + 300
        while time.time() < give_up and not killed:
            if checkpoint.is_file():
                for pid in descendants_matching(marker):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def assert_same_run(resumed: Path, straight: Path) -> None:
    a, b = load_run(resumed), load_run(straight)
    np.testing.assert_allclose(a.logits("test"), b.logits("test"), rtol=1e-5, atol=1e-5)
    assert a.history["val_loss"].tolist() == pytest.approx(b.history["val_loss"].tolist())
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]


# --- planning and transfer (no training) ---------------------------------------------------------------

def test_plan_names_outputs_and_errors(tmp_path):
    plans = plan_runs([str(paths.PARAMS_DIR / "smoke" / "runs" / "*.yaml")])
    assert [p.name for p in plans] == sorted(p.stem for p in (paths.PARAMS_DIR / "smoke" / "runs").glob("*.yaml"))
    assert all(p.out_dir == paths.runs_dir_for("smoke") == paths.SCRATCH_DIR / "runs" for p in plans)
    config = write_config(tmp_path / "configs", "recipe")
    seeded = plan_runs([str(config)], tmp_path / "out", seeds=[0, 2])
    assert [(p.name, p.config.seed) for p in seeded] == [("recipe_seed0", 0), ("recipe_seed2", 2)]
    with pytest.raises(ValueError, match="nothing_here"):
        plan_runs([str(tmp_path / "nothing_here" / "*.yaml")])
    assert sweep_cli.main([str(tmp_path / "missing.yaml")]) == 2


def test_complete_identical_runs_are_skipped_and_changed_ones_refused(tmp_path):
    config_path = write_config(tmp_path / "configs", "run")
    out = tmp_path / "out"
    (plan,) = plan_runs([str(config_path)], out)
    assert plan.action == RUN and plan.reason == "new"
    (out / "run").mkdir(parents=True)
    (out / "run" / "config.yaml").write_text(yaml.safe_dump(plan.config.to_dict()))
    assert plan_runs([str(config_path)], out)[0].action == RUN  # incomplete: resumes
    for name in ("history.csv", "metrics.json", "predictions.npz"):
        (out / "run" / name).write_text("")
    assert plan_runs([str(config_path)], out)[0].action == SKIP
    write_config(tmp_path / "configs", "run", lr=0.5)
    (refused,) = plan_runs([str(config_path)], out)
    assert refused.action == REFUSE and "['lr']" in refused.reason and "--force" in refused.reason
    assert plan_runs([str(config_path)], out, force=True)[0].action == REPLACE


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    target = write_folder(tmp_path / "run", {"a.txt": b"old", "b.txt": b"old"})
    real_write = Path.write_bytes

    def failing_write(self, data):
        if self.name == "b.txt":
            raise OSError("disk full")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_folder(target, {"a.txt": b"new", "b.txt": b"new"})
    monkeypatch.undo()
    assert (target / "a.txt").read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    write_folder(target, {"c.txt": b"new"})
    assert [p.name for p in target.iterdir()] == ["c.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(ValueError, match="plain file name"):
        write_folder(target, {"../escape": b""})


def test_pack_into_few_archives_and_unpack(tmp_path):
    rng = np.random.default_rng(0)
    folders = [write_folder(tmp_path / "runs" / f"run{i}", {"metrics.json": b"{}", "blob": rng.bytes(30_000)})
               for i in range(3)]
    archives = pack_folders(folders, tmp_path / "out", max_archives=2, max_bytes=70_000)
    assert [a.name for a in archives] == ["runs-01.tar.gz", "runs-02.tar.gz"]
    unpacked = unpack_folders(archives, tmp_path / "back")
    assert sorted(p.name for p in unpacked) == ["run0", "run1", "run2"]
    assert (tmp_path / "back" / "run2" / "blob").read_bytes() == (folders[2] / "blob").read_bytes()
    with pytest.raises(ValueError, match=r"\['run2'\] do not fit"):
        pack_folders(folders, tmp_path / "small", max_archives=1, max_bytes=70_000)


def test_full_tier_order_and_costs_file():
    rows = read_costs(paths.PARAMS_DIR / "full" / "costs.yaml")
    names = [row["run"] for row in rows]
    assert names[:7] == ["resemotenet", "resmasking_dropout1", "cbam_resnet50", "resnet34", "vggnet",
                         "emonext_tiny", "pattlite"]
    assert sorted(names) == sorted(p.stem for p in (paths.PARAMS_DIR / "full" / "runs").glob("*.yaml"))
    rest = [row["gpu_minutes"] for row in rows[7:]]
    assert rest == sorted(rest) and all(row["gpu_minutes"] > 0 for row in rows)
    assert value_order(list(reversed(rows))) == rows
    assert estimate_for("vggnet_seed3", {"vggnet": 5.0}) == 5.0


# --- Ray ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ray_sweep_writes_runs_reports_a_failing_one_then_skips(tmp_path, ray_executor, tiny_dataset,
                                                              uses_tiny_data, capsys):
    configs = tmp_path / "configs"
    # Trained on validation too, so it keeps its last epoch and its snapshot of epoch 1 is a run of its own.
    write_config(configs, "ray_a", snapshot_epochs=[1], train_splits=["train", "val"])
    write_config(configs, "ray_b", epochs=1)
    # A recipe the config accepts whose model fails to build: its weights file is missing, which only the
    # worker finds (a misspelt setting or model option is refused when the configs are read, before any run).
    write_config(configs, "ray_broken", model="resnet18", model_kwargs={"weights_path": "no_such_weights.pt"})
    out = tmp_path / "out"
    code = sweep_cli.main([str(configs / "*.yaml"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "ray_broken: FAILED" in printed and "no_such_weights.pt" in printed
    assert sorted(p.name for p in out.iterdir()) == ["ray_a", "ray_a_snap001", "ray_b"]  # nothing half-written
    run = load_run(out / "ray_a")
    assert run.metrics["epochs"] == 2
    assert run.metrics["command"].endswith(" ".join(sys.argv))  # the driver's command, not the Ray worker's
    for line in ("ray_a", "ray_b", "ray_broken"):
        assert any(row.split()[:2] in ([line, "done"], [line, "failed"]) for row in printed.splitlines())

    started = time.perf_counter()
    again = run_sweep(plan_runs([str(configs / "ray_a.yaml"), str(configs / "ray_b.yaml")], out), ray_executor,
                      ["sweep"], datasets={"fer2013": tiny_dataset})
    assert [o.status for o in again] == ["skipped", "skipped"] and time.perf_counter() - started < 5


@pytest.mark.slow
def test_fine_tuning_stage_starts_from_its_parent_in_the_sweep_or_on_disk(tmp_path, ray_executor, tiny_dataset):
    configs, out = tmp_path / "configs", tmp_path / "out"
    write_config(configs, "ft_base", epochs=1)
    stage = write_config(configs, "ft_base_stage", epochs=1, lr=0.001, train_splits=["val"], parent="ft_base")
    together = run_sweep(plan_runs([str(configs / "*.yaml")], out), ray_executor, ["sweep"],
                         datasets={"fer2013": tiny_dataset})
    assert [o.status for o in together] == ["done", "done"], [o.error for o in together]
    first = load_run(out / "ft_base_stage")
    assert first.metrics["parent"] == "ft_base"
    (alone,) = run_sweep(plan_runs([str(stage)], tmp_path / "elsewhere"), ray_executor, ["sweep"],
                         datasets={"fer2013": tiny_dataset})
    assert alone.status == "failed" and "neither in this sweep nor complete" in alone.error
    write_folder(out / "ft_base_stage", {})  # incomplete, and no checkpoint: trained again from the parent on disk
    (paths.SCRATCH_DIR / "checkpoints" / "ft_base_stage" / "last.pt").unlink()
    (again,) = run_sweep(plan_runs([str(stage)], out), ray_executor, ["sweep"], datasets={"fer2013": tiny_dataset})
    assert again.status == "done"
    np.testing.assert_allclose(load_run(out / "ft_base_stage").logits("val"), first.logits("val"), rtol=1e-5)

    # On another machine the parent's folder is committed but its weights are not: the stage says how to
    # rebuild them (the parent trained again elsewhere), and starts once weights with the recorded sha256 are back.
    weights_file("smoke", "ft_base").unlink()
    write_folder(out / "ft_base_stage", {})
    (paths.SCRATCH_DIR / "checkpoints" / "ft_base_stage" / "last.pt").unlink()
    (orphan,) = run_sweep(plan_runs([str(stage)], out), ray_executor, ["sweep"], datasets={"fer2013": tiny_dataset})
    assert orphan.status == "failed" and "weights are not on this machine" in orphan.error and "--out" in orphan.error
    rebuilt = run_sweep(plan_runs([str(configs / "ft_base.yaml")], tmp_path / "rebuilt"), ray_executor, ["sweep"],
                        return_weights=True, datasets={"fer2013": tiny_dataset})
    assert [o.status for o in rebuilt] == ["done"]
    (resumed,) = run_sweep(plan_runs([str(stage)], out), ray_executor, ["sweep"], datasets={"fer2013": tiny_dataset})
    assert resumed.status == "done", resumed.error


def assert_killed_run_resumes_like_a_straight_one(tmp_path, executor, prefix: str, process_marker: str,
                                                  dataset: FERDataset) -> None:
    """Two 12-epoch runs through ``executor``: the worker of ``<prefix>_killed`` (found by ``process_marker``
    in its command line) is killed after its first checkpoint; it must end with the straight run's metrics."""
    configs = tmp_path / "configs"
    for name in (f"{prefix}_straight", f"{prefix}_killed"):
        write_config(configs, name, epochs=12)
    killed: list[int] = []
    watcher = kill_after_first_checkpoint(f"{prefix}_killed", process_marker, killed)
    outcomes = run_sweep(plan_runs([str(configs / "*.yaml")], tmp_path / "out"), executor, ["sweep"],
                         datasets={"fer2013": dataset})
    watcher.join(1)
    assert killed, "the worker was never seen running after its first checkpoint"
    assert [o.status for o in outcomes] == ["done", "done"]
    assert_same_run(tmp_path / "out" / f"{prefix}_killed", tmp_path / "out" / f"{prefix}_straight")


@pytest.mark.slow
def test_ray_worker_killed_mid_run_resumes_to_the_same_metrics(tmp_path, ray_executor, tiny_dataset):
    assert_killed_run_resumes_like_a_straight_one(tmp_path, ray_executor, "ray", "ray::sweep:ray_killed",
                                                  tiny_dataset)


# --- local processes (the lent GPU machine) -------------------------------------------------------------

def test_full_tier_passes_seeds_to_the_sweep_for_the_experiment_matrix(monkeypatch):
    asked = []
    monkeypatch.setattr(full_tier.sweep_cli, "main", lambda argv: asked.append(argv) or 0)
    config = str(paths.PARAMS_DIR / "cpu" / "runs" / "exp_base.yaml")
    assert full_tier.main(["run", "--configs", config, "--seeds", "0,1,2"]) == 0
    assert asked[0][0].endswith("exp_base.yaml") and asked[0][asked[0].index("--seeds") + 1] == "0,1,2"


@pytest.mark.slow
def test_full_tier_runs_what_fits_the_budget_and_packs_it(tmp_path, scratch, uses_tiny_data, capsys):
    configs = tmp_path / "configs"
    write_config(configs, "local_fits", epochs=1)
    write_config(configs, "local_too_long", epochs=1)
    costs_file = tmp_path / "costs.yaml"
    costs_file.write_text(yaml.safe_dump({"runs": [{"run": "local_fits", "gpu_minutes": 0.01},
                                                   {"run": "local_too_long", "gpu_minutes": 1000.0}]}))
    out, packed = tmp_path / "runs", tmp_path / "OUT"
    code = full_tier.main(["run", "--configs", str(configs / "*.yaml"), "--costs", str(costs_file), "--time-budget",
                           "120", "--gpus-per-run", "0", "--cpus", "2", "--out", str(out), "--pack", str(packed)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "local_too_long: not started: needs about 1000.0 min" in printed
    assert [p.name for p in out.iterdir()] == ["local_fits"]
    archives = sorted(packed.iterdir())
    assert [a.name for a in archives] == ["runs-01.tar.gz"]
    (back,) = unpack_folders(archives, tmp_path / "back")
    assert (back / "metrics.json").read_bytes() == (out / "local_fits" / "metrics.json").read_bytes()


@pytest.mark.slow
def test_full_tier_script_end_to_end_with_the_smoke_configs(tmp_path, scratch, tiny_dataset, uses_tiny_data,
                                                            monkeypatch):
    monkeypatch.setattr(costs, "load_dataset", lambda name: tiny_dataset)
    smoke = str(paths.PARAMS_DIR / "smoke" / "runs" / "*.yaml")
    costs_file = tmp_path / "costs.yaml"
    # A CPU's throughput, not an H200's: the estimates must say these runs fit the budget here.
    assert full_tier.main(["costs", "--configs", smoke, "--achieved-tflops", "0.01", "--out", str(costs_file)]) == 0
    rows = read_costs(costs_file)
    assert sorted(row["run"] for row in rows) == ["mini_xception_ft", "resemotenet_s", "resnet18_native"]
    assert all(0 < row["gpu_minutes"] < 2 and row["train_images"] == 84 for row in rows)
    started = time.perf_counter()
    code = full_tier.main(["run", "--configs", smoke, "--costs", str(costs_file), "--time-budget", "240",
                           "--gpus-per-run", "0", "--cpus", "2", "--out", str(tmp_path / "runs"),
                           "--pack", str(tmp_path / "OUT")])
    assert code == 0 and time.perf_counter() - started < 240
    (archive,) = (tmp_path / "OUT").iterdir()
    unpacked = unpack_folders([archive], tmp_path / "back")
    assert sorted(p.name for p in unpacked) == sorted(row["run"] for row in rows)


@pytest.mark.slow
def test_local_worker_killed_mid_run_resumes_to_the_same_metrics(tmp_path, scratch, tiny_dataset):
    executor = LocalExecutor(cpus=2, gpus=0)
    try:
        assert_killed_run_resumes_like_a_straight_one(tmp_path, executor, "local", "local_killed.request.pkl",
                                                      tiny_dataset)
    finally:
        executor.close()


@pytest.mark.slow
def test_runs_still_going_at_the_deadline_are_stopped_keeping_their_checkpoint(tmp_path, scratch, tiny_dataset):
    config = write_config(tmp_path / "configs", "local_long", epochs=400)
    executor = LocalExecutor(cpus=1, gpus=0)
    try:
        (stopped,) = run_sweep(plan_runs([str(config)], tmp_path / "out"), executor, ["sweep"], time_budget=20,
                               datasets={"fer2013": tiny_dataset})
    finally:
        executor.close()
    assert stopped.status == "stopped" and not (tmp_path / "out").exists()
    epochs_done, saved = checkpoint_state(TrainConfig.from_yaml(config, run_name="local_long"))
    assert 0 < epochs_done < 400 and saved["epochs"] == 400  # the next sweep resumes from here
    assert not list((paths.SCRATCH_DIR / "checkpoints" / "local_long").glob("*.tmp"))  # no partial file


@pytest.mark.slow
def test_smoke_configs_sweep_then_skip(tmp_path, ray_executor, tiny_dataset):
    smoke = str(paths.PARAMS_DIR / "smoke" / "runs" / "*.yaml")
    first = run_sweep(plan_runs([smoke], tmp_path / "out"), ray_executor, ["sweep"],
                      datasets={"fer2013": tiny_dataset})
    assert all(o.status == "done" for o in first), [(o.name, o.error) for o in first]
    started = time.perf_counter()
    again = run_sweep(plan_runs([smoke], tmp_path / "out"), ray_executor, ["sweep"],
                      datasets={"fer2013": tiny_dataset})
    assert all(o.status == "skipped" for o in again) and time.perf_counter() - started < 5
