"""``python -m fer_study.bench generate``: seconds per generated image on this machine's device.

Times ``fer_study.apps.generate.generate_faces`` (one image per call of the pipeline, as the report's
generator runs) with a local model folder, after one warm-up image: the figure the report's Table 2
(section 6.3.1) gives per model.

``--tiny`` times the tiny randomly initialised test pipeline instead: it checks the plumbing on a machine
without real weights, and its figures say nothing about a real model; the output says so.
"""

import argparse
import json
import string
import sys
import tempfile
from pathlib import Path

from fer_study.apps.generate import (
    GenerationSettings,
    ModelNotFoundError,
    generate_faces,
)
from fer_study.core.devices import resolve_device

TINY_LABEL = "TINY RANDOM TEST PIPELINE (plumbing check only; not a real model, its timing means nothing)"


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.bench generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="local diffusers pipeline folder, name under FER_MODELS, or a "
                                        "Hugging Face repo id already in the local cache")
    source.add_argument("--tiny", action="store_true", help="time the tiny random test pipeline")
    parser.add_argument("--count", type=int, default=5, help="timed images after the warm-up image")
    parser.add_argument("--size", type=int, help="image side in pixels (default: report's 512; tiny: 32)")
    parser.add_argument("--steps", type=int, help="inference steps (default: report's 40; tiny: 2)")
    parser.add_argument("--emotion", default="happy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    defaults = GenerationSettings()
    size = args.size or (32 if args.tiny else defaults.width)
    steps = args.steps or (2 if args.tiny else defaults.steps)
    settings = GenerationSettings(width=size, height=size, steps=steps)
    device = args.device or str(resolve_device("auto"))
    with tempfile.TemporaryDirectory() as scratch:
        model = build_tiny_pipeline(Path(scratch) / "tiny") if args.tiny else args.model
        try:
            timings = generate_faces(model, args.emotion, args.count + 1, args.seed, Path(scratch) / "out",
                                     settings, device)
        except ModelNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    timed = timings["seconds"].iloc[1:]
    print(f"model: {TINY_LABEL if args.tiny else args.model}")
    print(f"device: {device}; {size}x{size}, {settings.steps} steps, guidance {settings.guidance_scale}")
    print(f"warm-up image: {timings['seconds'].iloc[0]:.3f} s")
    print(f"seconds per image over {len(timed)} images: mean {timed.mean():.3f}, "
          f"min {timed.min():.3f}, max {timed.max():.3f}")
    return 0
