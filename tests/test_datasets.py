"""The data fetcher's own logic, offline: packages are faked as folders built here."""

import argparse
import json
import os

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from latentcodec import datasets as ds


def _source(kind, package):
    return next(s for s in ds.SETS[kind] if s.package == package)


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _jpeg(path, size=(64, 48), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    channels = () if mode == "L" else (3,)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "size, factor",
    [((5312, 2988), 4), ((2560, 1600), 2), ((1280, 1024), 2), ((640, 480), 2), ((2560, 3837), 4), ((1700, 1601), 3)],
)
def test_downscale_factor(size, factor):
    assert ds.downscale_factor(*size) == factor


@pytest.mark.parametrize("short", [100, 799, 800, 801, 1600, 1601, 2400, 2401, 5000])
def test_downscale_factor_is_the_smallest_that_fits(short):
    f = ds.downscale_factor(short * 2, short)
    assert f >= ds.MIN_FACTOR and short / f <= ds.MAX_SHORT_SIDE
    assert f == ds.MIN_FACTOR or short / (f - 1) > ds.MAX_SHORT_SIDE


def test_downscale_makes_rgb_at_an_exact_integer_factor():
    out = ds.downscale(Image.new("L", (1603, 1001), 128))
    assert out.mode == "RGB" and out.size == (801, 500)  # factor 2; the odd edge pixels are cropped
    assert np.all(np.asarray(out) == 128)


def test_downscale_follows_exif_rotation(tmp_path):
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees
    Image.new("RGB", (400, 200)).save(path, exif=exif)
    with Image.open(path) as im:
        assert ds.downscale(im).size == (100, 200)


def test_lomiri_takes_photos_only(tmp_path):
    backgrounds = tmp_path / "usr/share/backgrounds"
    _touch(backgrounds / "seeding_by_Clements_Engelhardt.jpg")
    _touch(backgrounds / "umang_by_Abhishek_Mudgal.jpg")  # a rendered gradient
    _touch(backgrounds / "empty.jpg", b"")
    _touch(backgrounds / "warty-final-ubuntu.png")
    chosen = _source("images", "lomiri-wallpapers-16.04").select(tmp_path)
    assert [(p.name, name) for p, name in chosen] == [
        ("seeding_by_Clements_Engelhardt.jpg", "lomiri-seeding_by_Clements_Engelhardt")]


def test_plasma_takes_the_largest_variant_of_the_listed_photos(tmp_path):
    for name in [*ds.PLASMA_PHOTOS, "Altai"]:  # Altai is a drawing
        for variant in ("1920x1200", "640x480", "2560x1440", "2560x1600", "1280x1024"):
            _touch(tmp_path / f"usr/share/wallpapers/{name}/contents/images/{variant}.jpg")
    chosen = _source("images", "plasma-workspace-wallpapers").select(tmp_path)
    assert [name for _, name in chosen] == [f"plasma-{n}" for n in ds.PLASMA_PHOTOS]
    assert {p.name for p, _ in chosen} == {"2560x1600.jpg"}


def test_plasma_names_a_missing_photo(tmp_path):
    _touch(tmp_path / "usr/share/wallpapers/Kite/contents/images/640x480.jpg")
    with pytest.raises(ds.FetchError, match="BytheWater"):
        _source("images", "plasma-workspace-wallpapers").select(tmp_path)


def test_speech_selection_names_files_by_their_path(tmp_path):
    voice = tmp_path / "usr/share/asterisk/sounds/en_US_f_Allison"
    _touch(voice / "hello.g722")
    _touch(voice / "digits/1.g722")
    _touch(voice / "silence/1.g722")  # nothing but silence
    chosen = _source("speech", "asterisk-core-sounds-en-g722").select(tmp_path)
    assert [name for _, name in chosen] == ["asterisk-en_US_f_Allison-digits-1", "asterisk-en_US_f_Allison-hello"]

    sound = tmp_path / "usr/share/games/fillets-ng/sound"
    _touch(sound / "city/cs/vit-m-hlava.ogg")
    _touch(sound / "share/blackjokes/cs/joke.ogg")  # shared dialogue sits one level deeper
    _touch(sound / "city/nl/vit-m-hlava.ogg")
    chosen = _source("speech", "fillets-ng-data-cs").select(tmp_path)
    assert [name for _, name in chosen] == ["fillets-city-cs-vit-m-hlava", "fillets-share-blackjokes-cs-joke"]


def test_dep5_licenses_per_named_file():
    text = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020, Somebody
License: GPL-2+

Files: 16.04/seeding_by_Clements_Engelhardt.jpg
Copyright: Clemens Engelhardt, 2018
License: CC0-1.0

Files: nature/Aqua.jpg
       nature/Garden.jpg
Copyright: 2008, Charles Barbin
           2009, Someone Else
License: GPL-2+
 The full text is in /usr/share/common-licenses.

License: CC0-1.0
 Long text.
"""
    assert ds.dep5_licenses(text) == {
        "seeding_by_Clements_Engelhardt.jpg": ("Clemens Engelhardt, 2018", "CC0-1.0"),
        "Aqua.jpg": ("2008, Charles Barbin; 2009, Someone Else", "GPL-2+"),
        "Garden.jpg": ("2008, Charles Barbin; 2009, Someone Else", "GPL-2+"),
    }


def _fake_images_packages(monkeypatch, calls):
    """Tiny stand-ins for the image packages, laid out as the real ones are."""

    def unpack(package, folder):
        calls.append(package)
        tree = folder / "tree"
        if package == "lomiri-wallpapers-16.04":
            _jpeg(tree / "usr/share/backgrounds/free_by_Peter_Nerlich.jpg")
            _jpeg(tree / "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg", (96, 50))
            _touch(tree / "usr/share/doc/lomiri-wallpapers-16.04/copyright").write_text(
                "Files: 16.04/free_by_Peter_Nerlich.jpg\nCopyright: Peter Nerlich, 2018\nLicense: CC-BY-SA-4.0\n")
        elif package == "mate-backgrounds":
            _jpeg(tree / "usr/share/backgrounds/mate/nature/Aqua.jpg")
            _jpeg(tree / "usr/share/backgrounds/mate/abstract/Flow.jpg")
        elif package == "plasma-workspace-wallpapers":
            for name in ds.PLASMA_PHOTOS:
                _jpeg(tree / f"usr/share/wallpapers/{name}/contents/images/64x40.jpg", (64, 40), "L")
                _jpeg(tree / f"usr/share/wallpapers/{name}/contents/images/32x20.jpg", (32, 20))
        elif package == "scikit-image":
            for name in ds.SKIMAGE_EVAL:
                _jpeg(tree / "skimage/data" / name, (30, 20), "L")
        return tree, "1.0"

    monkeypatch.setattr(ds, "unpack_debian", unpack)
    monkeypatch.setattr(ds, "unpack_pypi", unpack)


def test_fetch_builds_once_and_lists_the_files(tmp_path, monkeypatch):
    calls = []
    _fake_images_packages(monkeypatch, calls)
    folder = ds.fetch("images", tmp_path, progress=False)
    assert folder == tmp_path / "images"
    assert sorted(os.listdir(tmp_path)) == ["images"]  # no staging folder left

    train, evaluation = ds.list_files("images", "train", tmp_path), ds.list_files("images", "eval", tmp_path)
    assert len(train) == 2 + 1 + len(ds.PLASMA_PHOTOS) and len(evaluation) == len(ds.SKIMAGE_EVAL)
    with Image.open(folder / "train/lomiri-seeding_by_Clements_Engelhardt.png") as im:
        assert (im.mode, im.size) == ("RGB", (48, 25))
    with Image.open(folder / "train/plasma-Kite.png") as im:  # from the 64x40 variant
        assert (im.mode, im.size) == ("RGB", (32, 20))
    with Image.open(folder / "eval/astronaut.png") as im:
        assert (im.mode, im.size) == ("RGB", (30, 20))

    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["path"] == "train/lomiri-free_by_Peter_Nerlich.png")
    assert entry == {"path": entry["path"], "bytes": (folder / entry["path"]).stat().st_size,
                     "package": "lomiri-wallpapers-16.04", "version": "1.0", "license": "CC-BY-SA-4.0",
                     "copyright": "Peter Nerlich, 2018", "origin": "usr/share/backgrounds/free_by_Peter_Nerlich.jpg"}
    assert [s["package"] for s in manifest["sources"]] == [s.package for s in ds.SETS["images"]]
    assert sum(s["files"] for s in manifest["sources"]) == len(manifest["files"])

    calls.clear()
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert ds.fetch("images", tmp_path, progress=False) == folder
    assert calls == [] and (folder / "manifest.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("damage", ["delete a file", "truncate a file", "older format", "broken manifest"])
def test_fetch_redoes_a_damaged_set(tmp_path, monkeypatch, damage):
    calls = []
    _fake_images_packages(monkeypatch, calls)
    folder = ds.fetch("images", tmp_path, progress=False)
    victim = folder / "eval/coffee.png"
    manifest = folder / "manifest.json"
    if damage == "delete a file":
        victim.unlink()
    elif damage == "truncate a file":
        victim.write_bytes(victim.read_bytes()[:10])
    elif damage == "older format":
        manifest.write_text(manifest.read_text().replace(f'"format": {ds.FORMAT}', '"format": 0'))
    else:
        manifest.write_text(manifest.read_text()[:50])
    assert ds.read_manifest("images", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="latentcodec data fetch images"):
        ds.list_files("images", "eval", tmp_path)

    calls.clear()
    ds.fetch("images", tmp_path, progress=False)
    assert len(calls) == len(ds.SETS["images"])
    assert ds.read_manifest("images", tmp_path) is not None and victim.stat().st_size > 10
    assert sorted(os.listdir(tmp_path)) == ["images"]


def test_an_interrupted_fetch_leaves_no_set_and_is_redone(tmp_path, monkeypatch):
    calls = []
    _fake_images_packages(monkeypatch, calls)
    real = ds.unpack_pypi

    def no_network(package, folder):
        raise ds.FetchError(f"{package}: `pip download {package}` failed: no network")

    monkeypatch.setattr(ds, "unpack_pypi", no_network)  # the last source fails
    with pytest.raises(ds.FetchError, match="scikit-image"):
        ds.fetch("images", tmp_path, progress=False)
    assert not (tmp_path / "images").exists()
    assert ds.read_manifest("images", tmp_path) is None

    monkeypatch.setattr(ds, "unpack_pypi", real)
    ds.fetch("images", tmp_path, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["images"]
    assert len(ds.list_files("images", "eval", tmp_path)) == len(ds.SKIMAGE_EVAL)


def test_a_package_without_the_expected_files_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "unpack_debian", lambda package, folder: (folder, "2.0"))
    with pytest.raises(ds.FetchError, match="lomiri-wallpapers-16.04 2.0: none of the expected files"):
        ds.fetch("images", tmp_path, progress=False)


def test_failed_commands_name_the_package_and_the_command(tmp_path):
    with pytest.raises(ds.FetchError, match=r"pkg: `sh -c echo E: Unable to locate.*` failed: E: Unable to locate"):
        ds._run(["sh", "-c", "echo E: Unable to locate >&2; exit 100"], "pkg", tmp_path)
    with pytest.raises(ds.FetchError, match="pkg: `no-such-tool-here` is not installed"):
        ds._run(["no-such-tool-here", "download", "pkg"], "pkg", tmp_path)


def test_speech_from_vorbis_is_16k_mono_pcm16(tmp_path):
    rate, seconds = 22050, 0.5
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    src, dst = tmp_path / "line.ogg", tmp_path / "line.wav"
    sf.write(src, np.stack([tone, tone], 1), rate, format="OGG", subtype="VORBIS")
    ds._speech_wav(src, dst)
    info = sf.info(dst)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    audio, _ = sf.read(dst)
    assert abs(len(audio) - 16000 * seconds) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 5
    assert 0.3 < np.sqrt(np.mean(audio[1000:-1000] ** 2)) * np.sqrt(2) < 0.6


def test_speech_from_g722(tmp_path):
    av = pytest.importorskip("av")
    src, dst = tmp_path / "prompt.g722", tmp_path / "prompt.wav"
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.int16)
    with av.open(str(src), "w", format="g722") as container:
        stream = container.add_stream("g722", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone[None], format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    ds._speech_wav(src, dst)
    audio, rate = sf.read(dst)
    assert rate == 16000 and audio.ndim == 1 and abs(len(audio) - 16000) < 400
    assert abs(np.argmax(np.abs(np.fft.rfft(audio))) * 16000 / len(audio) - 440) < 5


def test_frame_folders_become_one_array(tmp_path):
    frames = tmp_path / "mire-2"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 6), i, np.uint8)).save(frames / f"image.{i:04d}.pgm")
    ds._frames_npy(frames, tmp_path / "mire-2.npy")
    video = np.load(tmp_path / "mire-2.npy")
    assert video.shape == (3, 4, 6) and video.dtype == np.uint8 and list(video[:, 0, 0]) == [0, 1, 2]


def test_root_and_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTCODEC_DATA", str(tmp_path / "env"))
    assert ds.dataset_root() == tmp_path / "env" and ds.dataset_root(tmp_path) == tmp_path
    monkeypatch.delenv("LATENTCODEC_DATA")
    assert ds.dataset_root() == ds.Path("~/.cache/latentcodec/data").expanduser()

    parser = argparse.ArgumentParser()
    ds.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "list", "--root", str(tmp_path)])
    args.run(args)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(ds.KINDS) and all("not fetched" in line for line in out)
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "fetch", "pictures"])
    with pytest.raises(KeyError, match="pictures"):
        ds.fetch("pictures", tmp_path)
    with pytest.raises(KeyError, match="test"):
        ds.list_files("images", "test", tmp_path)
