"""Serve the recognizer on this computer: an HTTP API, and a page that reads your webcam's emotions live.

``python -m fer_study serve [--host 127.0.0.1] [--port 8000]`` loads the recognizer once, then answers
until Ctrl-C (``--port 0`` picks a free port, shown in uvicorn's "running on" line):

- ``POST /predict``: one image file (any format ``predict`` reads: JPEG, PNG, WebP, ...) as the raw request
  body, or as the file field ``image`` of a multipart form; at most ``MAX_UPLOAD_BYTES`` (10 MiB), its length
  stated (Content-Length, as curl and browsers send it; not chunked). The answer is one line of ``predict``::

      {"path": "a.jpg", "faces": [{"box": [x, y, w, h], "emotion": "happy", "scores": {...}}], "error": null}

  (``path``: the multipart file's name, or ``"upload"`` for a raw body). A refused request gets the same
  object with ``"faces": null``, the reason in ``error`` and a 4xx status: 400 (an empty body or file, no
  ``image`` field or one holding text, malformed multipart), 411 (chunked: no Content-Length), 413 (over the
  limit) or 422 (not a readable image).
- ``GET /``: the live page (``static/``): it opens the webcam, sends a JPEG frame at most
  ``static/live.js``'s ``MAX_FRAME_WIDTH`` (640) pixels wide over ``/ws``, draws each face's box, top emotion
  and probability over the video when the answer comes, then sends the next frame; it shows the frame rate
  achieved. Everything it needs is served from here: it works offline.
- ``/ws``: a WebSocket; each message is one image (at most 10 MiB: a larger one closes the connection), each
  answer one such JSON object (``"path": "frame"``). A connection's frames are one video: its faces are
  tracked as ``predict`` tracks a video's (each keeps an ``id``; detection on every ``VIDEO_DETECT_EVERY``-th
  frame, ``fer_study.apps.recognize.tracking``).
  A frame that arrives while the one before is being classified waits in a single slot, replacing any frame
  already waiting there: a client that sends faster than frames are classified gets answers about its newest
  frame, never a growing backlog.

Images are classified one at a time, in a worker thread, so that the event loop keeps accepting
connections and frames meanwhile.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fer_study.apps.recognize.classifier import load_classifier
from fer_study.apps.recognize.cli import add_recognizer_arguments
from fer_study.apps.recognize.io import InputError, read_image
from fer_study.apps.recognize.pipeline import Face, Recognizer
from fer_study.apps.recognize.tracking import VIDEO_DETECT_EVERY, FaceTracker

# The web stack (the ``serve`` extra) is imported where it runs: ``python -m fer_study`` imports every command's
# module, and the other commands must not need it.
if TYPE_CHECKING:
    from fastapi import FastAPI, Request, WebSocket

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Over the limit, bodies up to this size are read (and discarded) before the refusal; larger ones are cut off.
DISCARDED_BYTES = 10 * MAX_UPLOAD_BYTES
UPLOAD_FIELD = "image"
STATIC = Path(__file__).with_name("static")
EXPECTED = (f"expected one image file (JPEG, PNG, WebP, ...) of at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB, "
            f"as the raw request body or as the multipart file field '{UPLOAD_FIELD}'")


class UploadError(Exception):
    """A refused request: its HTTP status and the reason, which names what was expected."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: this computer only; 0.0.0.0 opens it to the network, "
                        "where browsers allow the webcam only over HTTPS)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    add_recognizer_arguments(parser)


def run_cli(args: argparse.Namespace) -> int:
    import uvicorn  # before the recognizer loads: a missing ``serve`` extra is said at once

    try:
        recognizer = Recognizer(load_classifier(args.model, args.run, args.ensemble, device=args.device),
                                detector=args.detector, device=args.device)
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"cannot load the classifier: {error}", file=sys.stderr)
        return 2
    print(f"classifier: {recognizer.classifier.name}; detector: {type(recognizer.detector).__name__}",
          file=sys.stderr)
    uvicorn.run(create_app(recognizer), host=args.host, port=args.port, ws_max_size=MAX_UPLOAD_BYTES)
    return 0


def create_app(recognizer: Recognizer) -> "FastAPI":
    """The service around one loaded recognizer (see the module's docstring for its endpoints)."""
    from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    # No /docs: FastAPI's documentation pages load their scripts from a CDN, and this service works offline.
    app = FastAPI(title="fer-study recognizer", docs_url=None, redoc_url=None)
    # One classification at a time: torch already spreads one over every core, and the detectors are not
    # documented as safe to share between threads. Requests wait for their turn in the event loop.
    one_at_a_time = asyncio.Lock()

    async def classify(data: bytes, path: str, tracker: FaceTracker | None = None) -> dict:
        """The ``predict`` line for one image's bytes; ``InputError`` when they are not a readable image."""
        async with one_at_a_time:
            faces = await run_in_threadpool(predict_bytes, recognizer, data, tracker)
        return {"path": path, "faces": [face.to_dict() for face in faces], "error": None}

    @app.get("/", include_in_schema=False)
    async def live_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        path = "upload"
        try:
            data, path = await uploaded_image(request)
            return JSONResponse(await classify(data, path))
        except UploadError as error:
            return JSONResponse({"path": path, "faces": None, "error": str(error)}, status_code=error.status)
        except InputError as error:
            return JSONResponse({"path": path, "faces": None, "error": f"{error}; {EXPECTED}"}, status_code=422)

    @app.websocket("/ws")
    async def frames(websocket: WebSocket) -> None:
        await websocket.accept()
        waiting: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        receiver = asyncio.create_task(receive_frames(websocket, waiting))
        # A client's frames are a video: its faces keep their ids, detected on every few frames as in predict.
        tracker = FaceTracker(recognizer, VIDEO_DETECT_EVERY)
        try:
            while (frame := await waiting.get()) is not None:
                try:
                    line = await classify(frame, "frame", tracker)
                except InputError as error:
                    line = {"path": "frame", "faces": None,
                            "error": f"{error}; expected each message to be one image file (JPEG, PNG, WebP, ...)"}
                await websocket.send_json(line)
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def predict_bytes(recognizer: Recognizer, data: bytes, tracker: FaceTracker | None = None) -> list[Face]:
    """Faces in an image file's bytes, decoded as ``predict`` decodes files (``read_image``: any mode, EXIF
    orientation, the pixel limit), as one frame of ``tracker``'s stream when given; ``InputError`` when
    they are not a readable image."""
    image = read_image(data)
    return tracker.update(image) if tracker is not None else recognizer.predict(image)


async def uploaded_image(request: "Request") -> tuple[bytes, str]:
    """The image's bytes and name from a raw body or the multipart file field; ``UploadError`` otherwise.

    The size is checked from the Content-Length header, before the body is read (the server's HTTP parser
    then delivers exactly that many bytes)."""
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException

    if "content-length" not in request.headers and "transfer-encoding" in request.headers:
        raise UploadError(411, f"a body of unstated length (chunked): send a Content-Length header; {EXPECTED}")
    size = int(request.headers.get("content-length", 0))  # the HTTP parser has refused one that is not a number
    if size > MAX_UPLOAD_BYTES:
        if size <= DISCARDED_BYTES:
            # Read to the end, unkept: a client still sending (one that does not wait for "100 Continue") gets
            # this answer, where closing the connection on unread bytes would reset it before it could read it.
            async for _ in request.stream():
                pass
        raise UploadError(413, f"request body of {size} bytes is over the limit; {EXPECTED}")
    if size == 0:
        raise UploadError(400, f"empty request body; {EXPECTED}")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        return await request.body(), "upload"
    try:
        form = await request.form()
    except HTTPException as error:  # Starlette's answer to a body that is not multipart
        raise UploadError(400, f"malformed multipart body ({error.detail}); {EXPECTED}") from error
    upload = form.get(UPLOAD_FIELD)
    if upload is None:
        received = ", ".join(f"'{name}'" for name in form) or "none"
        raise UploadError(400, f"no field '{UPLOAD_FIELD}' in the form (fields received: {received}); {EXPECTED}")
    if not isinstance(upload, UploadFile):
        raise UploadError(400, f"the field '{UPLOAD_FIELD}' holds text, not a file; {EXPECTED}")
    data = await upload.read()
    if not data:
        raise UploadError(400, f"the file '{upload.filename}' is empty; {EXPECTED}")
    return data, upload.filename or "upload"


async def receive_frames(websocket: "WebSocket", waiting: asyncio.Queue) -> None:
    """Put each message's bytes into ``waiting``, replacing a frame still waiting there (the client has
    moved on from it); ``None`` when the client leaves."""
    while True:
        message = await websocket.receive()
        frame = None if message["type"] == "websocket.disconnect" else (
            message.get("bytes") or (message.get("text") or "").encode())
        if waiting.full():
            waiting.get_nowait()
        waiting.put_nowait(frame)
        if frame is None:
            return
