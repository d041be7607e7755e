"""``latentcodec train ...`` (LightningCLI) and ``latentcodec export``."""

from __future__ import annotations

import torch

from latentcodec.training.image_data import ImageFolderData
from latentcodec.training.rate_distortion import RateDistortion


def train(argv: list[str]) -> None:
    """``latentcodec train fit --config configs/NAME.yaml`` and LightningCLI's other verbs."""
    from lightning.pytorch.cli import LightningCLI

    LightningCLI(RateDistortion, ImageFolderData, args=argv, save_config_kwargs={"overwrite": True})


def export(checkpoint: str, output: str, **card) -> None:
    """Writes a training checkpoint's model as a safetensors weight file."""
    from latentcodec.codecs.image import save_weights

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hp = state["hyper_parameters"]
    module = RateDistortion(**hp)
    module.load_state_dict(state["state_dict"])
    info = {"lmbda": hp["lmbda"], "distortion": hp["distortion"], "steps": state["global_step"]} | card
    save_weights(module.model.eval(), output, hp["model"], **info)
