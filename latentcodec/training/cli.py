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


def export(checkpoint: str, output: str, **card) -> None:
    """Writes a training checkpoint's model as a safetensors weight file."""
    from latentcodec.codecs.image import save_weights

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    accepted = inspect.signature(RateDistortion).parameters  # LightningCLI adds keys of its own
    hp = {k: v for k, v in state["hyper_parameters"].items() if k in accepted}
    module = RateDistortion(**hp)
    module.load_state_dict(state["state_dict"])
    info = {"lmbda": hp["lmbda"], "distortion": hp["distortion"], "steps": state["global_step"]} | card
    save_weights(module.model.eval(), output, hp["model"], **info)
