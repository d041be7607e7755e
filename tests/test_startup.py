"""What each CLI verb imports, in a fresh process, so start-up cost does not
creep back: ``--help`` and ``info`` import no torch, coding imports neither
training, evaluation, Lightning nor CompressAI's package (its
``__init__`` pulls in torch_geometric)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from latentcodec.container import Header, pack

HEAVY = ("torch", "compressai", "torch_geometric", "lightning", "pytorch_lightning", "latentcodec.training",
         "latentcodec.evaluation")
SPEECH = Path(__file__).parent / "data" / "speech-ru-16k.flac"
RUN = f"""
import json, sys
from latentcodec.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]), file=sys.stderr)
"""


def run(*argv) -> tuple[int, set, list[str]]:
    """(exit code, heavy modules imported, the lines the command wrote to stderr) of ``latentcodec ARGV``."""
    result = subprocess.run([sys.executable, "-c", RUN, *map(str, argv)], capture_output=True, text=True, check=True)
    *err, last = result.stderr.splitlines()
    code, modules = json.loads(last)
    return code, set(modules), err


def test_help_info_and_listing_import_no_torch(tmp_path):
    lc, bad = tmp_path / "x.lc", tmp_path / "bad.lc"
    lc.write_bytes(pack(Header("lossless-image", "0" * 16, {"height": 1}), [b"chunk"]))
    bad.write_bytes(b"GIF89a...")
    assert run("--help")[:2] == (0, set())
    assert run("info", lc)[:2] == (0, set())
    code, modules, err = run("info", bad)
    assert (code, modules) == (1, set()) and len(err) == 1 and "wrong magic bytes" in err[0]
    listing = "import sys, latentcodec; latentcodec.registry.resolve('mbt2018-mean-small'); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True).stdout == "False\n"


@pytest.mark.parametrize("kind", ["image", "speech"])
def test_coding_imports_no_training_evaluation_or_compressai_package(tmp_path, photo, kind):
    src = SPEECH if kind == "speech" else tmp_path / "photo.png"
    if kind == "image":
        Image.fromarray(photo).save(src)
    lc, out = tmp_path / "x.lc", tmp_path / ("out.wav" if kind == "speech" else "out.png")
    assert run("encode", src, lc)[:2] == (0, {"torch"})
    assert run("decode", lc, out)[:2] == (0, {"torch"})
    code, modules, err = run("encode", src, lc, "--model", "no-such-model")
    assert (code, modules) == (1, set()) and len(err) == 1 and "no codec 'no-such-model' is installed" in err[0]
