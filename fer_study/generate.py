"""Generated faces for balancing FER2013 (report section 6.2).

- ``PromptGenerator``: the report's dynamic prompt template with pools for context, gender, age,
  nationality, genetic background and the words of each emotion; the user picks the emotion, the
  number of images and the start seed, and the seed grows by 200 per image.
- ``generate_faces``: a text-to-image diffusers pipeline loaded only from local files, with the report's
  settings as defaults (512x512, 40 steps, guidance 5.5, negative prompt). No weights can be downloaded
  here, so a missing model stops with ``ModelNotFoundError`` before anything else happens.
- ``crop_generated_faces``: the report's post-processing (OpenCV face detector, largest face, gray,
  48x48) through ``fer_study.data.faces.crop_face``; rejected images are counted by reason.
- ``balance_from_folder``: fill each class of a split up to a target from per-class folders of faces,
  then check the counts.

The report does not list its negative prompts or its pool values; those below are ours.
"""

import json
import random
import string
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_study import paths
from fer_study.constants import CLASS_NAMES
from fer_study.data.dataset import FERDataset, concatenate, stack_faces
from fer_study.data.faces import GENERATED_FACES, KEPT, REASONS, FaceSettings, check_detector, crop_face
from fer_study.data.images import ImageError, decode_face

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
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
            f"Vision v6 saved with save_pretrained) under FER_MODELS={paths.models_dir()} or pass its path; "
            "this project never downloads weights.")
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


def default_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_pipeline(model: str | Path, device=None):
    """The text-to-image pipeline of a local model (see ``resolve_model``), on ``device``."""
    folder = resolve_model(model)
    import torch
    from diffusers import DiffusionPipeline

    device = torch.device(device) if device is not None else default_device()
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


def _class_folders(root: Path) -> dict[str, list[Path]]:
    """Image files per class subfolder of ``root``; unknown subfolders are an error (a typo loses data)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found (expected one subfolder per class: {CLASS_NAMES})")
    unknown = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in CLASS_NAMES)
    if unknown:
        raise ValueError(f"{root}: subfolders {unknown} are not classes; expected names from {CLASS_NAMES}")
    files = {cls: sorted(p for p in (root / cls).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
             for cls in CLASS_NAMES if (root / cls).is_dir()}
    if not any(files.values()):
        raise ValueError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in any class subfolder")
    return files


def crop_generated_faces(raw_dir: Path, faces_dir: Path,
                         settings: FaceSettings = GENERATED_FACES) -> pd.DataFrame:
    """Crop the face of every image under ``raw_dir/<class>/`` into ``faces_dir/<class>/<name>.png``.

    Returns images per class (rows) and outcome (columns): kept, or the reason it was rejected
    (no face, several faces, blank frame, unreadable file, pixels deeper than 8 bits).
    """
    files = _class_folders(raw_dir)
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


def _targets(counts: pd.Series, target: int | Mapping[str, int] | None) -> dict[str, int]:
    if target is None:
        return dict.fromkeys(CLASS_NAMES, int(counts.max()))
    return {cls: int(target[cls]) if isinstance(target, Mapping) else int(target) for cls in CLASS_NAMES}


def balance_plan(dataset: FERDataset, split: str, folder: Path | None = None,
                 target: int | Mapping[str, int] | None = None) -> pd.DataFrame:
    """Per class of ``split``: images, target, images to add, and (with ``folder``) the image files its
    class subfolder holds and how many more would be needed; what ``balance_from_folder`` will do."""
    counts = dataset.counts().loc[split]
    plan = pd.DataFrame({"images": counts, "target": pd.Series(_targets(counts, target))})
    plan["to_add"] = (plan["target"] - plan["images"]).clip(lower=0)
    if folder is not None:
        files = _class_folders(folder)
        plan["files_in_folder"] = [len(files.get(cls, [])) for cls in CLASS_NAMES]
        plan["short"] = (plan["to_add"] - plan["files_in_folder"]).clip(lower=0)
    plan.index.name = "class"
    return plan


def balance_from_folder(dataset: FERDataset, split: str, folder: Path,
                        target: int | Mapping[str, int] | None = None,
                        require_full: bool = True) -> FERDataset:
    """``dataset`` plus faces from ``folder/<class>/`` so that each class of ``split`` reaches ``target``.

    ``target``: one count for every class, a count per class, or ``None`` for the split's largest class.
    Classes already at or above their target are left alone. Files that are not 48x48 8-bit images are
    skipped and counted (``attrs["generated_rejected"]``). With ``require_full`` a class the folder
    cannot fill is an error; otherwise it gets what there is (``attrs["generated_short"]``).
    """
    counts = dataset.counts().loc[split]
    targets = _targets(counts, target)
    needed = {cls: max(0, targets[cls] - int(counts[cls])) for cls in CLASS_NAMES}
    files = _class_folders(folder)
    images, labels, ids = [], [], []
    added = dict.fromkeys(CLASS_NAMES, 0)
    rejected = dict.fromkeys(CLASS_NAMES, 0)
    first_errors = []
    for label, cls in enumerate(CLASS_NAMES):
        for file in files.get(cls, []):
            if added[cls] == needed[cls]:
                break
            try:
                images.append(decode_face(file.read_bytes(), str(file)))
            except (ImageError, OSError) as error:
                rejected[cls] += 1
                first_errors.append(str(error))
                continue
            labels.append(label)
            ids.append(f"gen_{cls}_{file.name}")
            added[cls] += 1
    short = {cls: needed[cls] - added[cls] for cls in CLASS_NAMES if added[cls] < needed[cls]}
    if short and require_full:
        raise ValueError(f"{folder}: not enough usable faces to reach the targets in {split}: "
                         + ", ".join(f"{cls} lacks {n}" for cls, n in short.items())
                         + (f" (rejected files, e.g. {first_errors[:3]})" if first_errors else ""))
    label_array = np.array(labels, np.int64)
    soft = None if dataset.soft_labels is None else np.eye(len(CLASS_NAMES), dtype=np.float32)[label_array]
    extra = FERDataset(dataset.name, stack_faces(images), label_array, np.full(len(labels), split),
                       np.array(ids, dtype=str), soft)
    result = concatenate(dataset, extra)
    expected = {cls: int(counts[cls]) + added[cls] for cls in CLASS_NAMES}
    got = result.counts().loc[split]
    wrong = {cls: int(got[cls]) for cls in CLASS_NAMES if got[cls] != expected[cls]}
    if wrong or (require_full and any(got[cls] < targets[cls] for cls in CLASS_NAMES)):
        raise RuntimeError(f"balancing {split} from {folder} gave {dict(got)}, expected {expected}")
    result.attrs.update({"generated_source": str(folder), "generated_added": json.dumps(added),
                         "generated_rejected": json.dumps(rejected), "generated_short": json.dumps(short)})
    return result


@dataclass
class GenerationReport:
    """What ``generate_examples`` did: a message, and when it ran, the prompts/times and crop outcomes."""

    message: str
    generated: pd.DataFrame | None = None
    crops: pd.DataFrame | None = None
    faces_dir: Path | None = None
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.message if self.crops is None else f"{self.message}\n{self.crops.to_string()}"

    def _repr_html_(self) -> str:
        return f"<p>{self.message}</p>" + ("" if self.crops is None else self.crops.to_html())


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


def build_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Save a tiny, randomly initialised Stable Diffusion pipeline to ``folder`` (for tests and the
    benchmark's plumbing check; it outputs noise, not faces). Images must be multiples of 8 pixels."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    vocab_dir = folder / "_vocab"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    # A character-level CLIP BPE vocabulary: every lowercase word splits into known single characters.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in string.ascii_lowercase + string.digits + ",.-'":
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    (vocab_dir / "vocab.json").write_text(json.dumps(vocab))
    (vocab_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(vocab_dir / "vocab.json"), str(vocab_dir / "merges.txt"),
                              model_max_length=77)
    torch.manual_seed(seed)
    hidden = 32
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=hidden, attention_head_dim=4,
        norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=32, sample_size=32)
    scheduler = DDIMScheduler(clip_sample=False, steps_offset=1)
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(folder)
    return folder
