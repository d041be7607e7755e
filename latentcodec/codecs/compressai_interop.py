"""Loading CompressAI checkpoints into latentcodec's image models.

The models share CompressAI's module names, so a state dict maps over as is,
except CompressAI's ``gaussian_conditional`` tables: latentcodec's conditional
models use their own shipped integer tables, so those entries are dropped. An
entropy bottleneck's stored tables are kept (integers) if it was updated,
otherwise built from its parameters on first use.
"""

from __future__ import annotations

import torch

from latentcodec.codecs.image_models import IMAGE_MODELS, ImageModel

COMPRESSAI_NAMES = {  # CompressAI zoo name -> ours (the same architectures)
    "bmshj2018-factorized": "bmshj2018-factorized",
    "bmshj2018-hyperprior": "bmshj2018-hyperprior",
    "mbt2018-mean": "mbt2018-mean",
}


def from_compressai(state_dict: dict[str, torch.Tensor], architecture: str) -> ImageModel:
    """A latentcodec model holding a CompressAI model's weights (``architecture``
    is the CompressAI zoo name, e.g. ``"mbt2018-mean"``)."""
    if architecture not in COMPRESSAI_NAMES:
        raise ValueError(f"cannot load CompressAI {architecture!r}; supported: {', '.join(COMPRESSAI_NAMES)}")
    state = {k.removeprefix("module."): v for k, v in state_dict.items()}
    n, m = state["g_a.0.weight"].shape[0], state["g_a.6.weight"].shape[0]
    model = IMAGE_MODELS[COMPRESSAI_NAMES[architecture]](n, m)
    conditional = {k: v for k, v in model.state_dict().items() if k.startswith("gaussian_conditional.")}
    model.load_state_dict(conditional | {k: v for k, v in state.items() if not k.startswith("gaussian_conditional.")})
    return model.eval()
