"""``latentcodec train ...`` and ``train-tokenizer ...`` (LightningCLI), ``latentcodec export`` and ``export-tokenizer``."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch

from latentcodec.codecs.image_tokenizer import ImageTokenizer, load_tokenizer, save_tokenizer
from latentcodec.training.image_data import ImageFolderData
from latentcodec.training.rate_distortion import RateDistortion
from latentcodec.training.tokenizer import TokenizerTraining


def _lightning_cli(verb: str, module: type[L.LightningModule], argv: list[str]) -> None:
    from lightning.pytorch.cli import LightningCLI

    sys.argv = [f"{Path(sys.argv[0]).name} {verb}", *argv]  # LightningCLI parses sys.argv
    LightningCLI(module, ImageFolderData, save_config_kwargs={"overwrite": True})


def train(argv: list[str]) -> None:
    """``latentcodec train fit --config configs/NAME.yaml`` and LightningCLI's other verbs."""
    _lightning_cli("train", RateDistortion, argv)


def train_tokenizer(argv: list[str]) -> None:
    """``latentcodec train-tokenizer fit --config configs/image-tokenizer-NAME.yaml`` and LightningCLI's other verbs."""
    _lightning_cli("train-tokenizer", TokenizerTraining, argv)


def _trained_module(module: type[L.LightningModule], checkpoint: str) -> tuple[L.LightningModule, dict, int]:
    """(module with the checkpoint's weights, its hyper-parameters, training steps)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    accepted = inspect.signature(module).parameters  # LightningCLI adds keys of its own
    hp = {k: v for k, v in state["hyper_parameters"].items() if k in accepted}
    trained = module(**hp)
    trained.load_state_dict(state["state_dict"])
    return trained, hp, state["global_step"]


def export(checkpoint: str, output: str, measure_on: str | None = None) -> dict:
    """Writes a training checkpoint's model as a safetensors weight file; with
    ``measure_on``, first measures the weights as shipped (fp16) on a folder of
    images by real coding and stores mean bpp and PSNR with them."""
    from latentcodec.codecs.image import ImageCodec, save_weights
    from latentcodec.evaluation.rate_distortion import codec_point
    from latentcodec.media import image_files, read_image

    module, hp, steps = _trained_module(RateDistortion, checkpoint)
    model = module.model.eval()
    with torch.no_grad():
        for p in model.parameters():  # what save_weights keeps
            p.copy_(p.half().float())
    info = {"lmbda": hp["lmbda"], "distortion": hp["distortion"], "steps": steps}
    if measure_on:
        images = [read_image(p)[..., :3] for p in image_files(measure_on)]
        point = codec_point(ImageCodec(Path(output).stem, model, "unsaved"), images)
        info |= {"bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3), "ms_ssim": round(point.ms_ssim, 4), "measured_on": str(measure_on)}
    save_weights(model, output, hp["model"], **info)
    return info


def export_tokenizer(checkpoint: str, output: str, measure_on: str | None = None) -> dict:
    """Writes a tokenizer checkpoint as a safetensors weight file (fp16); with
    ``measure_on``, measures the file as written on that folder's RGB images
    (see :func:`_measure_tokenizer`) and stores the figures with it."""
    from latentcodec.media import image_files, read_image

    module, hp, steps = _trained_module(TokenizerTraining, checkpoint)
    info = {"loss": hp["loss"], "steps": steps}
    save_tokenizer(module.tokenizer, output, **info)
    if measure_on:
        tokenizer = load_tokenizer(output)  # the fp16 weights, as shipped
        images = [image[..., :3] for image in map(read_image, image_files(measure_on)) if image.ndim == 3]
        info |= _measure_tokenizer(tokenizer, images) | {"measured_on": str(measure_on)}
        save_tokenizer(tokenizer, output, **info)
    return info


def _measure_tokenizer(tokenizer: ImageTokenizer, images: list[np.ndarray]) -> dict:
    """Mean PSNR of detokenize(tokenize(x)), the fraction of the vocabulary the
    tokens use, and tokenize's speed on the CPU, one image at a time, each
    cropped to a multiple of the downsampling."""
    import time

    from latentcodec.evaluation.rate_distortion import psnr

    d = tokenizer.downsample
    images = [im[: im.shape[0] // d * d, : im.shape[1] // d * d] for im in images if min(im.shape[:2]) >= d]
    if not images:
        raise ValueError(f"no RGB image to measure on is at least {d}x{d}")
    qualities, used, seconds, count = [], torch.zeros(tokenizer.vocab_size, dtype=torch.bool), 0.0, 0
    for image in images:
        start = time.perf_counter()
        tokens = tokenizer.tokenize(image)
        seconds += time.perf_counter() - start
        count += tokens.numel()
        used[tokens.reshape(-1)] = True
        qualities.append(psnr(image, tokenizer.detokenize(tokens)[0].numpy()))
    return {"psnr": round(float(np.mean(qualities)), 3), "utilization": round(used.float().mean().item(), 4),
            "tokens_per_second": round(count / seconds)}


def finetune_quantized(codec, output: str, quantizer: str = "uniform", steps: int = 1000, lr: float = 1e-4,
                       measure_on: str | None = None, command: str = "", **data) -> dict:
    """``latentcodec finetune-quantized``: retrains an image codec's synthesis
    on the latents ``quantizer`` really produces, then writes the synthesis
    (over the codec's weights, which must lie beside ``output``) and a model
    card. Returns what it stored in the weights' info."""
    import copy
    import os
    import platform
    import time

    from latentcodec.codecs.image import ImageCodec, save_synthesis
    from latentcodec.evaluation.rate_distortion import codec_point
    from latentcodec.media import image_files, read_image
    from latentcodec.training.quantized_finetuning import finetune

    if not isinstance(codec, ImageCodec):
        raise ValueError(f"{codec.name} is not a learned image codec")
    spec = codec.new_quantizer(quantizer).spec()
    start = time.time()
    synthesis = finetune(codec, spec, steps, lr, **data)
    minutes = (time.time() - start) / 60
    model = copy.deepcopy(codec.model)
    model.g_s = synthesis
    with torch.no_grad():
        for p in model.g_s.parameters():  # what save_synthesis keeps
            p.copy_(p.half().float())
    info = {"quantizer": spec, "base": codec.name, "finetune_steps": steps, "lr": lr,
            "minutes": round(minutes, 1), "data": {k: v if isinstance(v, (int, float)) else str(v) for k, v in data.items()}}
    measured = {}
    if measure_on:
        images = [read_image(p)[..., :3] for p in image_files(measure_on)]
        images = [im for im in images if im.ndim == 3]
        for name, m in (("base", codec.model), ("finetuned", model)):
            point = codec_point(ImageCodec(Path(output).stem, m, "unsaved"), images, quantizer=spec)
            measured[name] = {"bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3), "ms_ssim": round(point.ms_ssim, 4)}
        info |= measured["finetuned"] | {"measured_on": str(measure_on)}
    save_synthesis(model, output, codec, **info)
    card = Path(output).with_suffix(".md")
    card.write_text(_finetune_card(Path(output).stem, codec, spec, info, measured, command,
                                   f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"))
    return info


def _finetune_card(name, codec, spec, info, measured, command, hardware) -> str:
    rows = "\n".join(f"| {k} | {v['bpp']:.4f} | {v['psnr']:.3f} | {v['ms_ssim']:.4f} |" for k, v in measured.items())
    data = info["data"]
    return f"""# {name}

The synthesis transform of `{codec.name}`, finetuned on the latents that the
`{spec}` quantizer really produces (arXiv 2506.08662). Everything that makes
the indices (analysis, hyperprior, entropy model, quantizer) is `{codec.name}`'s
own and frozen, so the rate is unchanged; the file holds only the synthesis
(fp16) and loads over `{codec.name}` (weights {codec.weights_hash}), which must
be installed beside it. Encoding with this codec uses `{spec}` unless told otherwise.

## Training data

{data.get('crops_per_image', 16)} random {data.get('crop', 256)}x{data.get('crop', 256)} crops (with flips) of each photo in
`{data.get('train_dir')}` (`latentcodec data fetch images`), drawn once, passed through the frozen
encoder and the quantizer, and cached. The development images were never trained on.

## Training

Finetuning of the synthesis only, on top of `{codec.name}` (see its card for how that was trained):

- {info['finetune_steps']} steps, batch {data.get('batch_size', 8)}, Adam, lr {info['lr']} with cosine decay, MSE loss.
- {info['minutes']} minutes on {hardware}, no GPU.
- Command: `{command}`

## Measured

On the development set ({info.get('measured_on', 'not measured')}), real coding of whole `.lc` files
with `{spec}`, means over images:

| decoder | bpp | PSNR (dB) | MS-SSIM |
|---|---|---|---|
{rows}
"""
