// The live page of `python -m fer_study serve`: webcam frames go to the server's /ws one at a time (the next
// one only after the answer to the last, so frames never queue up), and each answer's faces are drawn over
// the video and listed below it.
"use strict";

const MAX_FRAME_WIDTH = 640;  // frames are downscaled to this width: faster to send, and as good for detection
const JPEG_QUALITY = 0.8;
const COLOR = "rgb(255, 200, 0)";  // amber, as fer_study.apps.recognize.pipeline.annotate draws
const RATE_WINDOW = 20;  // the frame rate shown is over this many latest answers

const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const status = document.getElementById("status");
const rate = document.getElementById("fps");
const emotions = document.getElementById("emotions");
const frame = document.createElement("canvas");  // the downscaled frame being classified
const answerTimes = [];

const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
socket.onmessage = (event) => {
  const answer = JSON.parse(event.data);
  if (answer.error) {
    status.textContent = `The server could not classify a frame: ${answer.error}`;
  } else {
    status.textContent = "Live: each frame is classified by the server on this computer.";
    draw(answer.faces);
    list(answer.faces);
  }
  showRate();
  sendFrame();
};
socket.onclose = () => {
  status.textContent = "Disconnected from the server: restart it if needed, then reload this page.";
};

if (!navigator.mediaDevices) {
  status.textContent = "This browser allows the camera only on https:// pages or on http://127.0.0.1 and "
    + "http://localhost: open the page at one of those addresses.";
} else {
  navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false })
    .then((stream) => {
      video.srcObject = stream;
      sendFrame();
    })
    .catch((error) => { status.textContent = `No camera: ${error.name}: ${error.message}`; });
}

function sendFrame() {
  if (video.readyState < video.HAVE_CURRENT_DATA || socket.readyState !== WebSocket.OPEN) {
    if (socket.readyState <= WebSocket.OPEN) {
      setTimeout(sendFrame, 50);  // the camera or the connection is still starting
    }
    return;
  }
  const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
  frame.width = Math.round(video.videoWidth * scale);
  frame.height = Math.round(video.videoHeight * scale);
  frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
  frame.toBlob((jpeg) => socket.send(jpeg), "image/jpeg", JPEG_QUALITY);
}

function draw(faces) {
  // The overlay has the sent frame's pixels, so the boxes need no scaling; CSS stretches it over the video.
  overlay.width = frame.width;  // also clears it
  overlay.height = frame.height;
  const context = overlay.getContext("2d");
  const lineWidth = Math.max(2, Math.round(frame.width / 320));
  const fontSize = Math.max(12, Math.round(frame.width / 30));
  context.lineWidth = lineWidth;
  context.font = `${fontSize}px sans-serif`;
  context.textBaseline = "top";
  for (const face of faces) {
    if (face.error) {
      continue;
    }
    const [x, y, width, height] = face.box;
    const label = `${face.emotion} ${face.scores[face.emotion].toFixed(2)}`;
    const labelHeight = fontSize + 2 * lineWidth;
    // The label sits on the box's top edge, or inside the box when the box touches the frame's top.
    const top = y >= labelHeight ? y - labelHeight : y;
    context.strokeStyle = COLOR;
    context.strokeRect(x, y, width, height);
    context.fillStyle = COLOR;
    context.fillRect(x, top, context.measureText(label).width + 2 * lineWidth, labelHeight);
    context.fillStyle = "black";
    context.fillText(label, x + lineWidth, top + lineWidth);
  }
}

function list(faces) {
  const items = faces.filter((face) => !face.error).map((face) => {
    const item = document.createElement("li");
    // Each face keeps its id while it stays in view (the server tracks the frames as one video).
    item.textContent = `face ${face.id}: ${face.emotion} ${face.scores[face.emotion].toFixed(2)}`;
    return item;
  });
  if (items.length === 0) {
    items.push(Object.assign(document.createElement("li"), { textContent: "no face found" }));
  }
  emotions.replaceChildren(...items);
}

function showRate() {
  answerTimes.push(performance.now());
  if (answerTimes.length > RATE_WINDOW) {
    answerTimes.shift();
  }
  if (answerTimes.length > 1) {
    const seconds = (answerTimes[answerTimes.length - 1] - answerTimes[0]) / 1000;
    rate.textContent = ((answerTimes.length - 1) / seconds).toFixed(1);
  }
}
