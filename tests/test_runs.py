import json

import numpy as np
import pandas as pd
import pytest
import torch

from fer_study.models import create_model
from fer_study.runs import load_run, load_weights, save_run, save_weights


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


def test_weights_files_describe_their_model_and_bare_state_dicts_still_load(tmp_path):
    model = create_model("vgg_cpu", widths=[8, 16])
    path = save_weights(tmp_path / "model.pt", "vgg_cpu", {"widths": [8, 16]}, model.state_dict())
    state, name, kwargs = load_weights(path)
    rebuilt = create_model(name, **kwargs)
    rebuilt.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    torch.save(model.state_dict(), tmp_path / "old.pt")  # written before weights described themselves
    state, name, kwargs = load_weights(tmp_path / "old.pt")
    assert name is None and kwargs == {} and state.keys() == model.state_dict().keys()


def test_the_same_weights_written_twice_have_the_same_bytes(tmp_path):
    """The sha256 a run records identifies its weights: rewriting them (publishing, rebuilding) matches it."""
    state = create_model("vgg_cpu", widths=[8, 16]).state_dict()
    first = save_weights(tmp_path / "a" / "model.pt", "vgg_cpu", {"widths": [8, 16]}, state).read_bytes()
    assert save_weights(tmp_path / "b" / "model.pt", "vgg_cpu", {"widths": [8, 16]}, state).read_bytes() == first
