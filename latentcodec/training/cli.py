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
