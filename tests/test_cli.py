import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentcodec.cli import main
from latentcodec.container import unpack
from latentcodec.media import read_image


@pytest.fixture
def png(tmp_path, photo):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    return path


def test_encode_info_decode(tmp_path, png, capsys):
    lc, out = tmp_path / "photo.lc", tmp_path / "out.png"
    assert main(["encode", str(png), str(lc), "--model", "lossless-image"]) == 0
    assert main(["info", str(lc)]) == 0
    info = capsys.readouterr().out
    assert "codec:    lossless-image" in info and "width:    160" in info and "chunks:   2" in info
    assert main(["decode", str(lc), str(out)]) == 0
    assert np.array_equal(read_image(out), read_image(png))
    assert sorted(os.listdir(tmp_path)) == ["out.png", "photo.lc", "photo.png"]  # no temporary files left
    assert lc.stat().st_mode & 0o777 == png.stat().st_mode & 0o777  # permissions as open() gives


@pytest.mark.parametrize(
    "make_input, command, message",
    [
        (lambda p: p.write_bytes(b""), "encode", "not a readable image"),
        (lambda p: p.write_bytes(b"not an image"), "encode", "not a readable image"),
        (lambda p: None, "encode", "no such file"),
        (lambda p: p.write_bytes(b"\x89LCF\r\n\x1a\n\x01"), "decode", "truncated stream"),
        (lambda p: p.write_bytes(b"GIF89a..."), "decode", "wrong magic bytes"),
        (lambda p: None, "decode", "No such file"),
    ],
)
def test_bad_input_is_one_line_error_and_no_output(tmp_path, capsys, make_input, command, message):
    src, dst = tmp_path / "input", tmp_path / "output.png"
    make_input(src)
    assert main([command, str(src), str(dst)] + (["--model", "lossless-image"] if command == "encode" else [])) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not dst.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_corrupt_file_leaves_no_partial_output(tmp_path, png, capsys):
    lc, out = tmp_path / "photo.lc", tmp_path / "out.png"
    main(["encode", str(png), str(lc), "--model", "lossless-image"])
    data = bytearray(lc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    lc.write_bytes(bytes(data))
    assert main(["decode", str(lc), str(out)]) == 1
    assert "CRC mismatch" in capsys.readouterr().err
    assert not out.exists()


def test_models_lists_installed_codecs_and_tokenizers(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lossless-image" in out and "image-tokenizer-fsq-f8-small" in out and "(H/8)x(W/8)" in out


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "exact round trip: True" in out and "exact: True" in out


def test_file_for_a_model_that_is_not_installed(tmp_path, capsys):
    from latentcodec.container import Header, pack

    lc = tmp_path / "other.lc"
    lc.write_bytes(pack(Header("someone-elses-model-q9", "0123456789abcdef", {"height": 8, "width": 8}), [b"\0" * 8]))
    assert main(["decode", str(lc), str(tmp_path / "out.png")]) == 1
    err = capsys.readouterr().err
    assert "needs codec 'someone-elses-model-q9', which is not installed" in err and err.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


def test_audio_encodes_at_variable_or_constant_depth(tmp_path):
    speech = Path(__file__).parent / "data" / "speech-ru-16k.flac"
    variable, constant = tmp_path / "v.lc", tmp_path / "c.lc"
    assert main(["encode", str(speech), str(variable), "--bitrate", "3.25"]) == 0
    assert main(["encode", str(speech), str(constant), "--bitrate", "3", "--constant-depth"]) == 0
    assert unpack(variable.read_bytes())[0].meta["variable_depth"] is True
    assert "variable_depth" not in unpack(constant.read_bytes())[0].meta
    assert main(["encode", str(speech), str(tmp_path / "x.lc"), "--bitrate", "3.25", "--constant-depth"]) == 1
    assert not (tmp_path / "x.lc").exists()
