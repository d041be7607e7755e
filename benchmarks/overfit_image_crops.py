"""Writes the overfit-image development crops: three 256x256 crops of
scikit-image photos (astronaut, coffee, chelsea), the folder the README's
BD-rates were measured on with ``latentcodec eval rd``.

    python benchmarks/overfit_image_crops.py OUT_DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image
from skimage import data

CROPS = {"astronaut": (60, 120), "chelsea": (20, 100), "coffee": (100, 150)}  # (top, left) of each 256x256 crop
SIZE = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, (top, left) in CROPS.items():
        Image.fromarray(getattr(data, name)()[top : top + SIZE, left : left + SIZE]).save(out / f"{name}.png")
        print(out / f"{name}.png")


if __name__ == "__main__":
    main()
