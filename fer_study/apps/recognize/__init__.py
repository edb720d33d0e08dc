"""Recognise facial emotions in photos, videos and camera streams, from the command line
(``python -m fer_study predict``, ``serve``, ``export``) or from Python::

    from fer_study import Recognizer
    faces = Recognizer().predict("photo.jpg")  # list of Face(box, emotion, scores)

Modules, bottom to top: ``io`` (reading images, videos, folders and box files), ``detectors`` (face
boxes), ``classifier`` (weights, device and backend), ``pipeline`` (the ``Recognizer``), ``tracking``
(faces followed across video frames), ``quality`` (detection scores and failure modes measured on FER2013
faces), ``card`` (the model card), ``cli``,
``export`` and ``serve`` (the commands; ``serve``: an HTTP API and a live webcam page). The names below are
the public interface.
"""

from fer_study.apps.recognize.boxes import Detection
from fer_study.apps.recognize.classifier import (
    BEST_ENSEMBLE_ROW,
    BEST_RUN_ROW,
    DEFAULT_MODEL,
    EmotionClassifier,
    OnnxClassifier,
    best_runs_with_weights,
    default_run,
    ensemble_members,
    export_onnx,
    load_classifier,
)
from fer_study.apps.recognize.detectors import (
    DEFAULT_DETECTOR,
    BlazeFaceDetector,
    CenterFaceDetector,
    HaarDetector,
    WholeImageDetector,
    load_cascade,
    make_detector,
)
from fer_study.apps.recognize.io import InputError, as_bgr, read_image
from fer_study.apps.recognize.mtcnn import FastMtcnnDetector, MtcnnDetector
from fer_study.apps.recognize.pipeline import Face, Recognizer, annotate, face_patch, faces_table
from fer_study.apps.recognize.tracking import FaceTracker

__all__ = [
    "BEST_ENSEMBLE_ROW", "BEST_RUN_ROW", "BlazeFaceDetector", "CenterFaceDetector",
    "DEFAULT_DETECTOR", "DEFAULT_MODEL", "Detection", "EmotionClassifier", "Face", "FaceTracker", "HaarDetector",
    "FastMtcnnDetector", "InputError", "MtcnnDetector", "OnnxClassifier", "Recognizer",
    "WholeImageDetector", "annotate", "as_bgr", "best_runs_with_weights", "default_run", "ensemble_members",
    "export_onnx", "face_patch", "faces_table", "load_cascade", "load_classifier", "make_detector",
    "read_image",
]
