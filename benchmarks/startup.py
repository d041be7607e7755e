"""Start-up cost of the CLI and the API, against ``python -c "import torch"``.

Every command runs as a fresh process; rows print the median wall time of
--repeats runs and its ratio to the median of ``import torch`` measured in
this same run (so machines and cache states compare). Coding rows include
the work itself: a 2 s speech clip encoded and decoded through the CLI, and
``import latentcodec`` then one image coded through the API.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "data" / "speech-ru-16k.flac"
CLI = [str(Path(sys.executable).with_name("latentcodec"))]  # the installed console script
API_IMAGE = """
import numpy as np
import latentcodec
image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
latentcodec.decompress(latentcodec.load("mbt2018-mean-small-q2").compress(image))
"""


def seconds(commands: list[list[str]], repeats: int) -> float:
    """Median over ``repeats`` of the wall time of running ``commands`` one after another."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for command in commands:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip, lc, wav = f"{tmp}/clip.flac", f"{tmp}/clip.lc", f"{tmp}/out.wav"
        subprocess.run([sys.executable, "-c", f"import soundfile as sf; x, r = sf.read({str(SPEECH)!r}); "
                        f"sf.write({clip!r}, x[: 2 * r], r)"], check=True)
        subprocess.run([*CLI, "encode", clip, lc], check=True, stdout=subprocess.DEVNULL)
        rows = {
            'python -c "import torch"': [[sys.executable, "-c", "import torch"]],
            "latentcodec --help": [[*CLI, "--help"]],
            "latentcodec info FILE": [[*CLI, "info", lc]],
            "latentcodec models": [[*CLI, "models"]],
            "latentcodec encode + decode, 2 s speech": [[*CLI, "encode", clip, lc], [*CLI, "decode", lc, wav]],
            "import latentcodec; code a 256x256 image": [[sys.executable, "-c", API_IMAGE]],
        }
        times = {name: seconds(commands, args.repeats) for name, commands in rows.items()}
    torch_time = next(iter(times.values()))
    print(f"median of {args.repeats} runs each, fresh processes")
    for name, t in times.items():
        print(f"  {name:<44}{t:>7.2f} s  {t / torch_time:>5.2f}x")


if __name__ == "__main__":
    main()
