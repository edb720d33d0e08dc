"""``python -m fer_study.bench train`` on the small CPU baseline with two tiny batches: the table has every
figure, and the timing schedule leaves out the warm-up batches and interleaves the pipelines."""

import pytest
import torch

from fer_study.bench import train as bench_train
from fer_study.bench.__main__ import main as bench_main
from fer_study.bench.train import benchmark_table, images_per_second

TINY = ["--models", "vgg_cpu", "--batch-size", "4", "--batches", "2", "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def no_fer2013_cache(tmp_path_factory):
    """Synthetic faces: the benchmark must run on a machine without the FER2013 cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FER_CACHE", str(tmp_path_factory.mktemp("empty_cache")))
        yield


@pytest.fixture(scope="module")
def table():
    """One measurement for the table's checks and the compiled engine's (compiling is most of its cost), in
    float32: bfloat16 would add its emulation on CPUs without AMX (the default precision is checked below)."""
    return benchmark_table(["vgg_cpu"], batch_size=4, batches=2, device="cpu", precision="float32",
                           compile_model=True)


@pytest.mark.slow
def test_benchmark_table_has_positive_speeds_flops_and_their_ratios(table):
    row = table.iloc[0]
    assert row["model"] == "vgg_cpu" and row["batch_size"] == 4
    for column in ("gflop_per_image", "engine_img_s", "plain_img_s", "matmul_gflop_s"):
        assert row[column] > 0, column
    assert row["engine_vs_plain"] == pytest.approx(row["engine_img_s"] / row["plain_img_s"])
    assert row["engine_gflop_s"] == pytest.approx(row["engine_img_s"] * row["gflop_per_image"])
    assert row["engine_of_matmul_pct"] == pytest.approx(100 * row["engine_gflop_s"] / row["matmul_gflop_s"])
    assert "synthetic" in table.attrs["faces"] and table.attrs["workers"] == 0
    assert row["engine_precision"] == "float32"


@pytest.mark.slow
def test_the_engine_can_train_a_compiled_model(table):
    assert table.iloc[0]["engine_compiled"]


def test_command_prints_the_table_with_device_and_load(table, monkeypatch, capsys):
    asked = []

    def measured(*args):
        asked.append(args)
        return table

    monkeypatch.setattr(bench_train, "benchmark_table", measured)
    assert bench_main(["train", *TINY]) == 0
    out = capsys.readouterr().out
    assert asked == [(["vgg_cpu"], 4, 2, None, "cpu", "bfloat16", False)]
    bench_main(["train", *TINY, "--compile"])
    assert asked[-1][-1] is True
    assert out.startswith("commit ") and "load average" in out and "engine_vs_plain" in out and "vgg_cpu" in out


def test_unknown_model_is_refused_with_the_registered_names(capsys):
    with pytest.raises(SystemExit):
        bench_main(["train", "--models", "no_such_model"])
    assert "registered" in capsys.readouterr().err


def test_timing_skips_warm_up_batches_and_interleaves_without_loader_processes():
    calls = []

    def pipeline(name, images_per_batch):
        while True:
            calls.append(name)
            yield images_per_batch

    speeds = images_per_second({"engine": pipeline("engine", 4), "plain": pipeline("plain", 4)}, batches=2,
                               interleave=True, device=torch.device("cpu"))
    assert calls == ["engine", "plain"] * 3 and set(speeds) == {"engine", "plain"}
    calls.clear()
    images_per_second({"engine": pipeline("engine", 4), "plain": pipeline("plain", 4)}, batches=2,
                      interleave=False, device=torch.device("cpu"))
    assert calls == ["engine"] * 3 + ["plain"] * 3
