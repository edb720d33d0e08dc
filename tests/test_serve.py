"""``python -m fer_study serve`` end to end: the real server in a subprocess on a free port; real HTTP requests
(grace_hopper.jpg as a raw body and as a multipart file; each bad input refused with its 4xx JSON error while
the server goes on serving); the WebSocket's newest-frame-only policy; and the live page in headless
Chromium, its fake camera filming the photo, until the face's box and emotion are drawn."""

import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import sync_playwright
from test_recognize import assert_is_grace_hoppers_face
from websockets.sync.client import connect

from fer_study.__main__ import main
from fer_study.apps.recognize.serve import MAX_UPLOAD_BYTES
from fer_study.bench.predict import sample_photo_path
from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Importing torch and loading the classifier, on a busy 2-core machine.
SERVER_START_SECONDS = 180
ANSWER_SECONDS = 60
RUNNING = re.compile(r"Uvicorn running on (http://\S+)")
FAST_FRAMES = 10


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/``) of a real server on a free port; its log is read throughout, so
    that it never blocks on a full pipe, and shown when it fails to start."""
    process = subprocess.Popen([sys.executable, "-m", "fer_study", "serve", "--port", "0"], cwd=paths.REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    log = []
    try:
        while not (running := RUNNING.search(log[-1] if log else "")):
            try:
                log.append(lines.get(timeout=SERVER_START_SECONDS))
            except queue.Empty:
                pytest.fail(f"the server did not start in {SERVER_START_SECONDS} s:\n{''.join(log)}")
            if process.poll() is not None and lines.empty():
                pytest.fail(f"the server exited with code {process.returncode}:\n{''.join(log)}")
        yield running.group(1) + "/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, body: bytes, content_type: str = "application/octet-stream") -> tuple[int, dict]:
    """``POST url/predict``: the status and the JSON answer, for a success or a refusal alike."""
    request = urllib.request.Request(url + "predict", data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refusal:
        return refusal.code, json.loads(refusal.read())


def multipart(field: str, data: bytes, filename: str | None = "photo.jpg") -> tuple[bytes, str]:
    """A multipart form with one field (a file when ``filename`` is given, else text): its body and content type."""
    boundary = "fer-study-test-boundary"
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    body = (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def write_y4m(path: Path, bgr: np.ndarray, frames: int = 5) -> Path:
    """A still video in YUV4MPEG2, a format Chromium's fake camera plays (in a loop): a text header, then
    each frame as raw I420 (the Y plane, then U and V at half resolution)."""
    height, width = bgr.shape[:2]
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + frame) * frames)
    return path


def test_a_photo_as_raw_body_and_as_multipart_file_gets_predicts_json_line(server):
    photo = sample_photo_path().read_bytes()
    for body, content_type, path in ((photo, "image/jpeg", "upload"),
                                     (*multipart("image", photo, "grace_hopper.jpg"), "grace_hopper.jpg")):
        status, answer = post(server, body, content_type)
        assert status == 200 and answer["path"] == path and answer["error"] is None, answer
        (face,) = answer["faces"]
        assert face["emotion"] in CLASS_NAMES and set(face["scores"]) == set(CLASS_NAMES)
        assert_is_grace_hoppers_face(face)


def test_each_bad_input_gets_its_4xx_json_error_and_the_server_goes_on(server):
    photo = sample_photo_path().read_bytes()
    bad = {  # what is sent -> (body, content type, status, text in the error)
        "an empty body": (b"", "image/jpeg", 400, "empty request body"),
        "text": (b"a note, not an image", "text/plain", 422, "not an image"),
        "a truncated photo": (photo[: len(photo) // 2], "image/jpeg", 422, "truncated"),
        "a body over the limit": (bytes(MAX_UPLOAD_BYTES + 1), "image/jpeg", 413, "over the limit"),
        "the photo in the wrong field": (*multipart("photo", photo), 400, "no field 'image' in the form"),
        "text in the image field": (*multipart("image", b"hello", filename=None), 400, "holds text, not a file"),
        "an empty file": (*multipart("image", b""), 400, "is empty"),
        "a malformed multipart body": (b"no boundaries here", "multipart/form-data; boundary=x", 400, "malformed"),
    }
    for sent, (body, content_type, status, reason) in bad.items():
        got, answer = post(server, body, content_type)
        assert got == status and answer["faces"] is None, (sent, got, answer)
        assert reason in answer["error"] and "expected one image file" in answer["error"], (sent, answer)
    status, answer = post(server, photo, "image/jpeg")
    assert status == 200 and len(answer["faces"]) == 1


def test_websocket_answers_frames_and_a_fast_sender_gets_its_newest_frame_answered(server):
    photo = sample_photo_path().read_bytes()
    with connect(server.replace("http", "ws", 1) + "ws") as socket:
        socket.send(b"not an image")
        answer = json.loads(socket.recv(timeout=ANSWER_SECONDS))
        assert answer["faces"] is None and "not an image" in answer["error"]
        # Frames sent without waiting for answers: those that arrive while one is classified replace each other.
        for _ in range(FAST_FRAMES):
            socket.send(photo)
        answers = [json.loads(socket.recv(timeout=ANSWER_SECONDS))]
        with pytest.raises(TimeoutError):  # no answer to a dropped frame comes
            while True:
                answers.append(json.loads(socket.recv(timeout=2)))
        assert len(answers) <= 3, f"{len(answers)} answers to {FAST_FRAMES} frames sent at once: none was dropped"
        # The frames are one video: the face, detected on the first, keeps its box and id.
        for answer in answers:
            (face,) = answer["faces"]
            assert_is_grace_hoppers_face(face)
            assert face["id"] == 0


def test_a_classifier_that_cannot_be_loaded_is_a_clear_error_before_serving(capsys):
    assert main(["serve", "--model", "vgg_cpu"]) == 2
    assert "cannot load the classifier" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed and could not be (`make test` runs "
                    "`apt-get install -y chromium` where it can): the live page's browser test is skipped")
def test_live_page_draws_the_face_and_emotion_of_a_fake_camera_offline(server, tmp_path):
    photo = cv2.imread(str(sample_photo_path()))
    camera = write_y4m(tmp_path / "camera.y4m", photo)
    answers, requested = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = browser.new_page(viewport={"width": 560, "height": 840})
            page.on("request", lambda request: requested.append(request.url))
            page.on("websocket", lambda socket: socket.on(
                "framereceived", lambda payload: answers.append(json.loads(payload))))
            page.goto(server)
            page.wait_for_function(
                "pattern => new RegExp(pattern).test(document.querySelector('#emotions li')?.textContent ?? '') "
                "&& parseFloat(document.getElementById('fps').textContent) > 0",
                arg=rf"^face \d+: ({'|'.join(CLASS_NAMES)}) [01]\.\d\d$", timeout=ANSWER_SECONDS * 1000)
            page.screenshot(path=tmp_path / "live.png")
            (face,) = answers[-1]["faces"]
            x, y, w, h = face["box"]
            # The overlay's opacity on the box's bottom and left edges, and at its centre.
            width, *alpha = page.evaluate("""points => {
                const canvas = document.getElementById("overlay");
                const context = canvas.getContext("2d");
                return [canvas.width, ...points.map(([x, y]) => context.getImageData(x, y, 1, 1).data[3])];
            }""", [[x + w // 2, y + h], [x, y + h // 2], [x + w // 2, y + h // 2]])
            listed, rate = page.inner_text("#emotions"), float(page.inner_text("#fps"))
        finally:
            browser.close()
    labels = {f"face {found['id']}: {found['emotion']} {found['scores'][found['emotion']]:.2f}" for answer in answers
              for found in answer["faces"]}
    assert listed in labels and rate > 0 and (tmp_path / "live.png").stat().st_size > 0
    # The box was found in a frame of the photo downscaled to the overlay's width: it must be her face, and be
    # drawn around it.
    scale = photo.shape[1] / width
    assert_is_grace_hoppers_face({**face, "box": [round(value * scale) for value in face["box"]]})
    assert alpha == [255, 255, 0], "the box is not drawn where the face was found"
    assert all(url.startswith(server) or url.startswith("data:") for url in requested), requested
