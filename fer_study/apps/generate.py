"""Generated faces for balancing FER2013 (report section 6.2).

- ``PromptGenerator``: the report's dynamic prompt template with pools for context, gender, age,
  nationality, genetic background and the words of each emotion; the user picks the emotion, the
  number of images and the start seed, and the seed grows by 200 per image.
- ``generate_faces``: a text-to-image diffusers pipeline loaded only from local files, with the report's
  settings as defaults (512x512, 40 steps, guidance 5.5, negative prompt). No weights can be downloaded
  here, so a missing model stops with ``ModelNotFoundError`` before anything else happens.
- ``crop_generated_faces``: the report's post-processing (OpenCV face detector, largest face, gray,
  48x48) through ``fer_study.data.faces.crop_face``; rejected images are counted by reason.

Filling a split from per-class folders of these faces is ``fer_study.data.generated`` (the data layer, which
the dataset variants use); the tiny random pipeline that tests and ``python -m fer_study.bench generate --tiny``
use is ``fer_study.bench.generate.build_tiny_pipeline``.

The report does not list its negative prompts or its pool values; those below are ours.
"""

import random
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES
from fer_study.core.devices import resolve_device
from fer_study.data.faces import GENERATED_FACES, KEPT, REASONS, FaceSettings, check_detector, crop_face
from fer_study.data.generated import class_folders

UNREADABLE, NOT_8BIT = "unreadable", "not_8bit"

# The report's main prompt (section 6.2), its structure kept word for word.
PROMPT_TEMPLATE = (
    "{context} image with a {emotion1}, {emotion2}, deeply {emotion3} single {gender} that is "
    "{selected_emotion} and has a detailed {expression}. Person is expressive, {age}, {nationality} and "
    "has a {genetic} genetic. Focus on eyes, eyebrows, mouth and other facial factors to express the "
    "{emotion1}."
)

# Steers away from the failures the report names: no close-up, extra people, non-photo styles, NSFW.
NEGATIVE_PROMPT = (
    "cartoon, anime, illustration, painting, drawing, 3d render, cgi, deformed face, disfigured, "
    "bad anatomy, extra limbs, multiple people, crowd, full body, distant shot, text, watermark, logo, "
    "blurry, low quality, nsfw, nude"
)


@dataclass(frozen=True)
class PromptPools:
    contexts: tuple[str, ...]
    genders: tuple[str, ...]
    ages: tuple[str, ...]
    nationalities: tuple[str, ...]
    genetics: tuple[str, ...]
    # Per emotion: the adjective for "that is ...", words for emotion1..3, and facial expressions.
    selected: Mapping[str, str]
    words: Mapping[str, tuple[str, ...]]
    expressions: Mapping[str, tuple[str, ...]]


PROMPT_POOLS = PromptPools(
    contexts=("close-up portrait photo", "studio headshot", "candid close-up photo", "documentary portrait",
              "natural-light portrait", "black and white close-up", "cinematic close-up",
              "passport-style photo"),
    genders=("man", "woman", "person"),
    ages=("a child", "a teenager", "a young adult", "in their thirties", "middle-aged", "in their sixties",
          "elderly"),
    nationalities=("American", "Brazilian", "Chinese", "Egyptian", "English", "French", "German", "Indian",
                   "Italian", "Japanese", "Kenyan", "Korean", "Mexican", "Nigerian", "Norwegian", "Peruvian",
                   "Polish", "Romanian", "Russian", "Spanish", "Turkish", "Vietnamese"),
    genetics=("African", "East Asian", "South Asian", "Southeast Asian", "European", "Middle Eastern",
              "Latin American", "Indigenous American", "Pacific Islander", "mixed"),
    selected={"angry": "angry", "disgust": "disgusted", "fear": "afraid", "happy": "happy", "sad": "sad",
              "surprise": "surprised", "neutral": "neutral"},
    words={
        "angry": ("angry", "furious", "enraged", "irritated", "hostile", "outraged"),
        "disgust": ("disgusted", "repulsed", "revolted", "nauseated", "grossed-out", "appalled"),
        "fear": ("afraid", "scared", "terrified", "frightened", "panicked", "anxious"),
        "happy": ("happy", "joyful", "cheerful", "delighted", "glad", "amused"),
        "sad": ("sad", "sorrowful", "unhappy", "gloomy", "heartbroken", "downcast"),
        "surprise": ("surprised", "astonished", "amazed", "shocked", "startled", "stunned"),
        "neutral": ("neutral", "calm", "expressionless", "composed", "impassive", "relaxed"),
    },
    expressions={
        "angry": ("angry frown", "clenched-jaw scowl", "glare with lowered eyebrows", "tight-lipped snarl"),
        "disgust": ("wrinkled-nose grimace", "raised upper lip sneer", "disgusted grimace",
                    "recoiling frown"),
        "fear": ("wide-eyed fearful stare", "fearful gasp with raised eyebrows", "tense open-mouthed look",
                 "frightened stare"),
        "happy": ("broad smile", "laughing smile showing teeth", "genuine smile with crinkled eyes",
                  "warm grin"),
        "sad": ("sad frown with drooping mouth corners", "teary-eyed look", "downcast gaze",
                "trembling-lip pout"),
        "surprise": ("open-mouthed look with raised eyebrows", "astonished wide-eyed gasp", "startled stare",
                     "jaw-dropped expression"),
        "neutral": ("neutral expression", "relaxed blank stare", "calm straight face", "resting face"),
    },
)


def _check_emotion(emotion: str) -> None:
    if emotion not in CLASS_NAMES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {CLASS_NAMES}")


class PromptGenerator:
    """Report 6.2's dynamic prompts: each image draws every pool element anew, from its own seed."""

    def __init__(self, pools: PromptPools = PROMPT_POOLS, seed_step: int = 200):
        self.pools, self.seed_step = pools, seed_step

    def prompt(self, emotion: str, seed: int) -> str:
        """The prompt of the image generated with ``seed``; the same emotion and seed give the same prompt."""
        _check_emotion(emotion)
        pools, chooser = self.pools, random.Random(f"{emotion}:{seed}")
        emotion1, emotion2, emotion3 = chooser.sample(pools.words[emotion], 3)
        return PROMPT_TEMPLATE.format(
            context=chooser.choice(pools.contexts), emotion1=emotion1, emotion2=emotion2, emotion3=emotion3,
            gender=chooser.choice(pools.genders), selected_emotion=pools.selected[emotion],
            expression=chooser.choice(pools.expressions[emotion]), age=chooser.choice(pools.ages),
            nationality=chooser.choice(pools.nationalities), genetic=chooser.choice(pools.genetics))

    def jobs(self, emotion: str, count: int, start_seed: int) -> pd.DataFrame:
        """``count`` rows of (emotion, seed, prompt), seeds ``start_seed``, ``start_seed + seed_step``, ..."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        seeds = [start_seed + self.seed_step * index for index in range(count)]
        return pd.DataFrame({"emotion": emotion, "seed": seeds,
                             "prompt": [self.prompt(emotion, seed) for seed in seeds]})


@dataclass(frozen=True)
class GenerationSettings:
    """Report 6.2's generation parameters."""

    width: int = 512
    height: int = 512
    steps: int = 40
    guidance_scale: float = 5.5
    negative_prompt: str = NEGATIVE_PROMPT
    seed_step: int = 200


class ModelNotFoundError(FileNotFoundError):
    """No local diffusers pipeline where the caller pointed; nothing can be downloaded here."""


def resolve_model(model: str | Path | None) -> Path:
    """The local folder of a diffusers pipeline: ``model`` as a path, as a folder under ``FER_MODELS``, or
    as a Hugging Face repo id already in the local Hugging Face cache (never downloaded)."""
    hint = (f"Put a diffusers pipeline folder (model_index.json and its component folders, e.g. Realistic "
            f"Vision v6 saved with save_pretrained) under FER_MODELS (now {paths.shown(paths.models_dir())}) or "
            "pass its path; this project never downloads weights.")
    if model is None or str(model).strip() == "":
        raise ModelNotFoundError(f"no generator model given. {hint}")
    for folder in (Path(model).expanduser(), paths.models_dir() / str(model)):
        if folder.is_dir():
            if not (folder / "model_index.json").is_file():
                raise ModelNotFoundError(f"{folder} is not a diffusers pipeline folder "
                                         f"(no model_index.json). {hint}")
            return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(model), local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError) as error:
        raise ModelNotFoundError(f"generator model {str(model)!r} is neither a local folder nor in the local "
                                 f"Hugging Face cache ({type(error).__name__}). {hint}") from None


def load_pipeline(model: str | Path, device=None):
    """The text-to-image pipeline of a local model (see ``resolve_model``), on ``device``."""
    folder = resolve_model(model)
    import torch
    from diffusers import DiffusionPipeline

    device = resolve_device(device if device is not None else "auto")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipeline = DiffusionPipeline.from_pretrained(folder, local_files_only=True, dtype=dtype)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def generate_faces(model: str | Path, emotion: str, count: int, seed: int, output_dir: Path,
                   settings: GenerationSettings = GenerationSettings(), device=None,
                   pools: PromptPools = PROMPT_POOLS) -> pd.DataFrame:
    """Generate ``count`` images of ``emotion`` into ``output_dir/<emotion>/seed<seed>.png``.

    Returns (and appends to ``output_dir/<emotion>/prompts.csv``) one row per image: emotion, seed,
    prompt, file, seconds. The model is checked before anything is loaded or written.
    """
    _check_emotion(emotion)
    jobs = PromptGenerator(pools, settings.seed_step).jobs(emotion, count, seed)
    pipeline = load_pipeline(model, device)
    import torch

    folder = Path(output_dir) / emotion
    folder.mkdir(parents=True, exist_ok=True)
    files, seconds = [], []
    for job in jobs.itertuples():
        started = time.perf_counter()
        generator = torch.Generator(pipeline.device).manual_seed(int(job.seed))
        image = pipeline(job.prompt, negative_prompt=settings.negative_prompt, width=settings.width,
                         height=settings.height, num_inference_steps=settings.steps,
                         guidance_scale=settings.guidance_scale, generator=generator).images[0]
        seconds.append(time.perf_counter() - started)
        files.append(folder / f"seed{job.seed}.png")
        image.save(files[-1])
    jobs["file"], jobs["seconds"] = [str(file) for file in files], seconds
    log_file = folder / "prompts.csv"
    jobs.to_csv(log_file, mode="a", header=not log_file.exists(), index=False)
    return jobs


def crop_generated_faces(raw_dir: Path, faces_dir: Path,
                         settings: FaceSettings = GENERATED_FACES) -> pd.DataFrame:
    """Crop the face of every image under ``raw_dir/<class>/`` into ``faces_dir/<class>/<name>.png``.

    Returns images per class (rows) and outcome (columns): kept, or the reason it was rejected
    (no face, several faces, blank frame, unreadable file, pixels deeper than 8 bits).
    """
    files = class_folders(raw_dir)
    check_detector(settings.detector)
    outcomes = pd.DataFrame(0, index=pd.Index(list(files), name="class"),
                            columns=[*REASONS, UNREADABLE, NOT_8BIT])
    for cls, class_files in files.items():
        (Path(faces_dir) / cls).mkdir(parents=True, exist_ok=True)
        for file in class_files:
            image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
            if image is None:
                outcomes.loc[cls, UNREADABLE] += 1
                continue
            if image.dtype != np.uint8:
                outcomes.loc[cls, NOT_8BIT] += 1
                continue
            crop = crop_face(image, settings)
            outcomes.loc[cls, crop.reason] += 1
            if crop.reason == KEPT:
                cv2.imwrite(str(Path(faces_dir) / cls / f"{file.stem}.png"), crop.face)
    return outcomes


@dataclass
class GenerationReport:
    """What ``generate_examples`` did: a message, and when it ran, the prompts/times and crop outcomes."""

    message: str
    generated: pd.DataFrame | None = None
    crops: pd.DataFrame | None = None
    faces_dir: Path | None = None
    settings: dict = field(default_factory=dict)


def generate_examples(model: str | Path | None, emotions: list[str], count: int, seed: int, output_dir: Path,
                      settings: GenerationSettings = GenerationSettings(), device=None) -> GenerationReport:
    """Generate ``count`` images per emotion and crop their faces, or explain why that is skipped."""
    try:
        resolve_model(model)
    except ModelNotFoundError as error:
        return GenerationReport(f"Generation skipped: {error}")
    tables = [generate_faces(model, emotion, count, seed, Path(output_dir) / "raw", settings, device)
              for emotion in emotions]
    generated = pd.concat(tables, ignore_index=True)
    faces_dir = Path(output_dir) / "faces"
    crops = crop_generated_faces(Path(output_dir) / "raw", faces_dir)
    return GenerationReport(f"Generated {len(generated)} images with {model}, "
                            f"{generated['seconds'].mean():.2f} s per image", generated, crops, faces_dir,
                            asdict(settings))


def main(argv: list[str] | None = None) -> int:
    """``python -m fer_study.apps.generate MODEL --emotions E... --count N [--seed S] [--out DIR]``: generate N
    images per emotion with a local text-to-image model (report 6.2 settings) into ``DIR/raw/<emotion>/``
    and crop their faces into ``DIR/faces/<emotion>/`` (default ``DIR``: the caches' ``generated/``, where
    the dataset ``fer2013_g`` looks for them)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fer_study.apps.generate", description=main.__doc__)
    parser.add_argument("model", help="diffusers pipeline folder, or its name under FER_MODELS")
    parser.add_argument("--emotions", nargs="+", required=True, help=f"classes from {list(CLASS_NAMES)}")
    parser.add_argument("--count", type=int, required=True, help="images per emotion")
    parser.add_argument("--seed", type=int, default=0, help="first seed (then every seed_step)")
    parser.add_argument("--out", type=Path, default=paths.generated_faces_dir().parent)
    args = parser.parse_args(argv)
    try:
        for emotion in args.emotions:
            _check_emotion(emotion)
        report = generate_examples(args.model, args.emotions, args.count, args.seed, args.out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.message)
    if report.crops is None:
        return 1
    print(report.crops.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
