"""``latentcodec train ...`` (LightningCLI) and ``latentcodec export``."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch

from latentcodec.training.image_data import ImageFolderData
from latentcodec.training.rate_distortion import RateDistortion


def train(argv: list[str]) -> None:
    """``latentcodec train fit --config configs/NAME.yaml`` and LightningCLI's other verbs."""
    from lightning.pytorch.cli import LightningCLI

    sys.argv = [f"{Path(sys.argv[0]).name} train", *argv]  # LightningCLI parses sys.argv
    LightningCLI(RateDistortion, ImageFolderData, save_config_kwargs={"overwrite": True})


def export(checkpoint: str, output: str, measure_on: str | None = None) -> dict:
    """Writes a training checkpoint's model as a safetensors weight file; with
    ``measure_on``, first measures the weights as shipped (fp16) on a folder of
    images by real coding and stores mean bpp and PSNR with them."""
    from latentcodec.codecs.image import ImageCodec, save_weights
    from latentcodec.evaluation.rate_distortion import codec_point
    from latentcodec.media import image_files, read_image

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    accepted = inspect.signature(RateDistortion).parameters  # LightningCLI adds keys of its own
    hp = {k: v for k, v in state["hyper_parameters"].items() if k in accepted}
    module = RateDistortion(**hp)
    module.load_state_dict(state["state_dict"])
    model = module.model.eval()
    with torch.no_grad():
        for p in model.parameters():  # what save_weights keeps
            p.copy_(p.half().float())
    info = {"lmbda": hp["lmbda"], "distortion": hp["distortion"], "steps": state["global_step"]}
    if measure_on:
        images = [read_image(p)[..., :3] for p in image_files(measure_on)]
        point = codec_point(ImageCodec(Path(output).stem, model, "unsaved"), images)
        info |= {"bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3), "ms_ssim": round(point.ms_ssim, 4), "measured_on": str(measure_on)}
    save_weights(model, output, hp["model"], **info)
    return info


def finetune_quantized(codec, output: str, quantizer: str = "uniform", steps: int = 2000, lr: float = 5e-5,
                       measure_on: str | None = None, command: str = "", **data) -> dict:
    """``latentcodec finetune-quantized``: retrains an image codec's synthesis
    on the latents ``quantizer`` really produces, then writes the synthesis
    (over the codec's weights, which must lie beside ``output``) and a model
    card. Returns what it stored in the weights' info."""
    import copy
    import json
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
