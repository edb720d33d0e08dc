import json

import numpy as np
import pandas as pd
import pytest

from fer_study.runs import load_run, save_run


def _save(run_dir, metrics):
    predictions = {"val_ids": np.array(["a"]), "val_labels": np.array([0]), "val_logits": np.zeros((1, 7))}
    return save_run(run_dir, {"model": "vgg_cpu"}, metrics, pd.DataFrame({"epoch": [1]}), predictions)


def test_run_round_trip(tmp_path):
    run = load_run(_save(tmp_path / "run", {"test_accuracy": 0.5}))
    assert run.metrics["test_accuracy"] == 0.5 and run.logits("val").shape == (1, 7)
    assert sorted(p.name for p in run.path.iterdir()) == ["config.yaml", "history.csv", "metrics.json",
                                                          "predictions.npz"]


def test_failed_write_keeps_the_previous_run_files_and_leaves_no_partial(tmp_path):
    run_dir = _save(tmp_path / "run", {"test_accuracy": 0.5})
    with pytest.raises(TypeError):
        _save(run_dir, {"test_accuracy": object()})
    assert json.loads((run_dir / "metrics.json").read_text()) == {"test_accuracy": 0.5}
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
