"""MTCNN face detectors: facenet-pytorch's own (``MtcnnDetector``) and the same networks run by faster
stages with settings tuned for recall at video speed (``FastMtcnnDetector``, ``--detector mtcnn-fast``)."""

import warnings
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torchvision.ops import nms
from tqdm import TqdmWarning

from fer_study.apps.recognize.boxes import (
    DEFAULT_MIN_FACE_SIZE,
    MIN_BOX_SHARE,
    Detection,
    square_box,
    suppress_overlaps,
)
from fer_study.core.devices import torch_threads

# ``--detector mtcnn-fast``: FastMtcnnDetector's pyramid step, per-stage thresholds and the share of
# ``min_face_size`` its pyramid starts at. Chosen by the benchmark's rule (highest group-scene recall with
# the video pipeline at >= 30 frames/s) on its PublicTest scenes among 19 combinations, tried by a one-off
# script, of: pyramid step 0.709 (facenet-pytorch's), 0.75 or 0.8; thresholds from facenet-pytorch's
# (0.6, 0.7, 0.7) down to 0.5 per stage; the pyramid starting at 1 down to 0.625 of ``min_face_size``.
# Lower thresholds and an earlier start find more faces for more CPU time; a finer step cost more time than
# it found.
MTCNN_FAST_SETTINGS = {"factor": 0.709, "thresholds": (0.5, 0.5, 0.5), "pyramid_start": MIN_BOX_SHARE}

class MtcnnDetector:
    """MTCNN (facenet-pytorch, weights inside its wheel); its boxes are made square like the Haar ones.

    MTCNN suppresses overlaps only above an IoU of 0.7 within its own stages; ``suppress_overlaps``
    merges the rest by its face probability.
    """

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, device: str | torch.device = "cpu") -> None:
        # Imported here: only this detector needs it. Inside Jupyter, facenet-pytorch's import of tqdm.auto
        # (for weight downloads it never makes: the weights are in its wheel) warns that ipywidgets is absent.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmWarning)
            from facenet_pytorch import MTCNN

        self.device = torch.device(device)
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device=self.device)

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with torch.inference_mode(), torch_threads(1 if self.device.type == "cpu" else torch.get_num_threads()):
            boxes, probabilities, landmarks = self.mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        detections = []
        for (x1, y1, x2, y2), points in zip(boxes, landmarks, strict=True):
            left_eye, right_eye = sorted(tuple(map(float, point)) for point in points[:2])
            detections.append(Detection(square_box(x1, y1, x2, y2), (left_eye, right_eye)))
        return suppress_overlaps(detections, [float(p) for p in probabilities])


class FastMtcnnDetector:
    """MTCNN's three networks (facenet-pytorch's weights) run by this module's own stages, tuned for speed.

    The networks are facenet-pytorch's; what differs from ``MtcnnDetector`` is how they are run on one CPU
    thread, where a profile of facenet-pytorch's ``detect_face`` on a 640x480 frame showed its time going to
    two things besides convolution:

    - PyTorch's CPU max pooling is several times slower on the default (NCHW) layout than on channels-last,
      which is the same computation (outputs equal to 1e-6): the networks and their inputs are channels-last;
    - the image pyramid and the crops for the second and third stages were resized by ``interpolate(mode=
      "area")`` on float tensors of the whole frame; here OpenCV resizes the 8-bit frame (``INTER_AREA``,
      each pyramid level from the one before) and all of a stage's crops go through its network as one batch.

    With these changes alone (the defaults: facenet-pytorch's settings) it finds what ``MtcnnDetector`` finds,
    up to the resampling (a test checks it on a photo), in less CPU time. The time saved is then spent on
    finding more faces: ``factor`` (the pyramid's scale step) and ``thresholds`` (per stage) are
    facenet-pytorch's settings, and ``pyramid_start`` starts the pyramid at that share of ``min_face_size``:
    MTCNN's first network misses many faces as large as its 12-pixel window at the pyramid's first level, so
    the 64-pixel faces the recognizer is meant to find need a pyramid starting below 64 pixels.
    ``make_detector("mtcnn-fast")`` uses ``MTCNN_FAST_SETTINGS``. As in ``MtcnnDetector``, boxes are made
    square and overlaps go through ``suppress_overlaps``.
    """

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, factor: float = 0.709,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), pyramid_start: float = 1.0) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmWarning)
            from facenet_pytorch import MTCNN
            from facenet_pytorch.models.utils import detect_face

        self.stage_helpers = detect_face
        mtcnn = MTCNN(keep_all=True)
        self.pnet, self.rnet, self.onet = (net.eval().to(memory_format=torch.channels_last)
                                           for net in (mtcnn.pnet, mtcnn.rnet, mtcnn.onet))
        self.min_face_size = min_face_size
        self.factor = factor
        self.thresholds = thresholds
        self.pyramid_start = pyramid_start

    @staticmethod
    def _batch(images: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB 8-bit images of one size as the networks' channels-last input, scaled to about [-1, 1]."""
        stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
        return ((stacked - 127.5) * 0.0078125).contiguous(memory_format=torch.channels_last)

    def _crops(self, rgb: np.ndarray, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each box's pixels (clipped to the frame, as facenet-pytorch does) resized to ``size``; and which
        boxes had any pixels."""
        height, width = rgb.shape[:2]
        y, ey, x, ex = self.stage_helpers.pad(boxes, width, height)
        valid = torch.from_numpy((ey > y - 1) & (ex > x - 1))
        crops = [cv2.resize(rgb[top - 1 : bottom, left - 1 : right], (size, size), interpolation=cv2.INTER_AREA)
                 for top, bottom, left, right, ok in zip(y, ey, x, ex, valid.tolist(), strict=True) if ok]
        return (self._batch(crops) if crops else torch.empty(0)), valid

    def stages(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MTCNN on one RGB frame: boxes ``(x1, y1, x2, y2)``, their face probabilities and five landmarks
        each (``(x, y)``, the eyes first), in the order of facenet-pytorch's ``detect_face``."""
        helpers, (t1, t2, t3) = self.stage_helpers, self.thresholds
        height, width = rgb.shape[:2]
        scale = 12.0 / (self.pyramid_start * self.min_face_size)
        candidates, level = [], rgb
        while min(height, width) * scale >= 12:
            # Each level shrunk from the one before (the first from the frame): area resampling of the whole
            # 640x480 frame to every level cost more than the first network on it.
            level = cv2.resize(level, (int(width * scale + 1), int(height * scale + 1)), interpolation=cv2.INTER_AREA)
            regression, probabilities = self.pnet(self._batch([level]))
            found, _ = helpers.generateBoundingBox(regression, probabilities[:, 1], scale, t1)
            candidates.append(found[nms(found[:, :4], found[:, 4], 0.5)])
            scale *= self.factor
        boxes = torch.cat(candidates)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        side_w, side_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = helpers.rerec(torch.stack([boxes[:, 0] + boxes[:, 5] * side_w, boxes[:, 1] + boxes[:, 6] * side_h,
                                           boxes[:, 2] + boxes[:, 7] * side_w, boxes[:, 3] + boxes[:, 8] * side_h,
                                           boxes[:, 4]], dim=1))
        if len(boxes):
            crops, valid = self._crops(rgb, boxes, 24)
            boxes = boxes[valid]
            if len(boxes):
                regression, probabilities = self.rnet(crops)
                passed = probabilities[:, 1] > t2
                boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:2]], dim=1)
                regression = regression[passed]
                keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
                boxes = helpers.rerec(helpers.bbreg(boxes[keep], regression[keep]))
        points = torch.zeros(0, 5, 2)
        if len(boxes):
            crops, valid = self._crops(rgb, boxes, 48)
            boxes = boxes[valid]
            if len(boxes):
                regression, landmarks, probabilities = self.onet(crops)
                passed = probabilities[:, 1] > t3
                boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:2]], dim=1)
                regression, landmarks = regression[passed], landmarks[passed]
                box_w, box_h = (boxes[:, 2] - boxes[:, 0] + 1)[:, None], (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
                points = torch.stack([box_w * landmarks[:, :5] + boxes[:, :1] - 1,
                                      box_h * landmarks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
                boxes = helpers.bbreg(boxes, regression)
                keep = helpers.batched_nms_numpy(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes)), 0.7, "Min")
                boxes, points = boxes[keep], points[keep]
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        order = torch.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), descending=True)
        boxes, points = boxes[order].numpy(), points[order].numpy()  # the largest first, as facenet-pytorch's
        return boxes[:, :4], boxes[:, 4], points

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with torch.inference_mode(), torch_threads(1):
            boxes, probabilities, landmarks = self.stages(rgb)
        detections = []
        for (x1, y1, x2, y2), points in zip(boxes, landmarks, strict=True):
            left_eye, right_eye = sorted(tuple(map(float, point)) for point in points[:2])
            detections.append(Detection(square_box(x1, y1, x2, y2), (left_eye, right_eye)))
        return suppress_overlaps(detections, [float(p) for p in probabilities])
