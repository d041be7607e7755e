"""Reading and writing media, with one error type for media we cannot handle."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from latentcodec.errors import MediaError


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm", ".tif", ".tiff"}


def image_files(folder) -> list[Path]:
    files = sorted(p for p in Path(folder).expanduser().iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return files


def read_image(path) -> np.ndarray:
    """uint8 [H, W] (grayscale), [H, W, 3] (RGB) or [H, W, 4] (RGBA)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            return np.asarray(im)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{path}: not a readable image ({e})") from None


def image_format(path) -> str:
    """Pillow's format name for the suffix of ``path``."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise MediaError(f"{path}: cannot write images as {suffix or 'a file without suffix'} (use .png)")
    return fmt


def write_image(stream, image: np.ndarray, fmt: str = "PNG") -> None:
    Image.fromarray(np.asarray(image)).save(stream, format=fmt)


# ---------------------------------------------------------------- audio

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"}
AUDIO_FORMATS = {  # suffix -> libsndfile (format, subtype) written
    ".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"),
}
BLOCK = 1 << 16  # samples per block when audio streams through


@dataclass
class Audio:
    """PCM in memory: float32 ``samples`` [channels, n], nominally in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def length(self) -> int:
        """Samples per channel."""
        return self.samples.shape[1]

    def blocks(self, size: int = BLOCK) -> Iterator[np.ndarray]:
        for start in range(0, self.samples.shape[1], size):
            yield self.samples[:, start : start + size]


class AudioFile:
    """An audio file read block by block, so an hour of audio never sits in memory."""

    def __init__(self, path):
        import soundfile as sf

        self.path = Path(path)
        if not self.path.is_file():
            raise MediaError(f"{path}: no such file")
        try:
            info = sf.info(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            raise MediaError(f"{path}: not a readable audio file ({e})") from None
        self.sample_rate, self.channels = info.samplerate, info.channels
        self.length = info.frames  # samples per channel, as the file's header says

    def blocks(self, size: int = BLOCK) -> Iterator[np.ndarray]:
        import soundfile as sf

        try:
            with sf.SoundFile(str(self.path)) as f:
                for block in f.blocks(size, dtype="float32", always_2d=True):
                    yield block.T
        except (sf.LibsndfileError, RuntimeError) as e:
            raise MediaError(f"{self.path}: unreadable audio data ({e})") from None

    def read(self) -> Audio:
        blocks = list(self.blocks())
        return Audio(np.concatenate(blocks, 1) if blocks else np.zeros((self.channels, 0), np.float32), self.sample_rate)


def read_audio(path) -> AudioFile:
    return AudioFile(path)


def audio_format(path) -> tuple[str, str]:
    suffix = Path(path).suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise MediaError(f"{path}: cannot write audio as {suffix or 'a file without suffix'} (use {', '.join(AUDIO_FORMATS)})")
    return AUDIO_FORMATS[suffix]


def write_audio(stream, audio, fmt: tuple[str, str] = ("WAV", "PCM_16")) -> None:
    """Writes anything with ``sample_rate``, ``channels`` and ``blocks()``, block by block."""
    import soundfile as sf

    with sf.SoundFile(stream, "w", audio.sample_rate, audio.channels, fmt[1], format=fmt[0]) as f:
        for block in audio.blocks():
            f.write(np.clip(block, -1, 1).T)


# ---------------------------------------------------------------- video

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".mpg", ".mpeg", ".ts"}
H264_SUFFIXES = {".mp4", ".mkv", ".mov"}  # written as H.264


@dataclass
class Video:
    """Frames in memory: uint8 RGB ``pixels`` [frames, H, W, 3] at a constant ``frame_rate``."""

    pixels: np.ndarray
    frame_rate: Fraction

    @property
    def width(self) -> int:
        return self.pixels.shape[2]

    @property
    def height(self) -> int:
        return self.pixels.shape[1]

    def __len__(self) -> int:
        return len(self.pixels)

    def frames(self) -> Iterator[np.ndarray]:
        return iter(self.pixels)


class VideoFile:
    """A video file (anything PyAV opens: mp4, avi, y4m, ...) read frame by
    frame as RGB, so a clip of any length never sits in memory.

    Only a constant frame rate is accepted: opening demuxes the file once
    (no decoding) and refuses one whose timestamps are not evenly spaced, so
    that the frame rate a codec records is the truth.
    """

    def __init__(self, path):
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise MediaError(f"{path}: no such file")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise MediaError(f"{path}: has no video stream")
                stream = container.streams.video[0]
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                rate = stream.average_rate or stream.guessed_rate
                if not rate or rate <= 0 or not self.width or not self.height:
                    raise MediaError(f"{path}: the video stream has no frame rate or size")
                self.frame_rate, time_base = Fraction(rate), stream.time_base
                pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
        except av.FFmpegError as e:
            raise MediaError(f"{path}: not a readable video ({e})") from None
        self.frame_count = len(pts) or None  # None: the container has no timestamps
        period = 1 / float(self.frame_rate * time_base)  # in timestamp ticks
        for i, step in enumerate(np.diff(pts)):
            if abs(step - period) > period / 2:
                raise MediaError(
                    f"{path}: variable frame rate (frame {i + 1} comes {float(step * time_base):.4g} s after "
                    f"frame {i}, not {float(1 / self.frame_rate):.4g} s); convert it to a constant rate first, "
                    f"e.g. ffmpeg -i IN -fps_mode cfr -r {self.frame_rate} OUT"
                )

    def frames(self) -> Iterator[np.ndarray]:
        import av

        try:
            with av.open(str(self.path)) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    if (frame.width, frame.height) != (self.width, self.height):
                        raise MediaError(f"{self.path}: frame {i} is {frame.width}x{frame.height}, the video "
                                         f"{self.width}x{self.height}; size changes are not supported")
                    yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as e:
            raise MediaError(f"{self.path}: unreadable video data ({e})") from None

    def read(self) -> Video:
        frames = list(self.frames())
        return Video(np.stack(frames) if frames else np.zeros((0, self.height, self.width, 3), np.uint8), self.frame_rate)


def read_video(path) -> VideoFile:
    return VideoFile(path)


@dataclass(frozen=True)
class VideoFormat:
    """How decoded video is written: ``h264`` (lossless RGB when ``crf`` is 0,
    else 4:2:0 at that CRF, which any player plays), ``y4m`` (raw 4:4:4) or
    ``png`` (a folder of frames 000000.png, ...)."""

    kind: str
    container: str | None = None
    crf: int = 0

    @property
    def directory(self) -> bool:
        return self.kind == "png"


def video_format(path, crf: int = 0) -> VideoFormat:
    """From the suffix of ``path``: .mp4/.mkv/.mov, .y4m, or none (a folder of PNG frames)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not 0 <= crf <= 51:
        raise MediaError(f"crf must be 0 (lossless) to 51, got {crf}")
    if suffix in H264_SUFFIXES:
        return VideoFormat("h264", {".mkv": "matroska"}.get(suffix, suffix[1:]), crf)
    if crf:
        raise MediaError(f"{path}: crf applies to {', '.join(sorted(H264_SUFFIXES))} output")
    if suffix == ".y4m":
        return VideoFormat("y4m", "yuv4mpegpipe")
    if suffix == "" or path.is_dir():
        return VideoFormat("png")
    raise MediaError(f"{path}: cannot write video as {suffix} (use {', '.join(sorted(H264_SUFFIXES))}, .y4m, "
                     "or a folder name without suffix for PNG frames)")


def write_video(out, video, fmt: VideoFormat = VideoFormat("h264", "mp4")) -> None:
    """Writes anything with ``width``, ``height``, ``frame_rate`` and
    ``frames()``, frame by frame: to a binary stream, or for PNG frames to
    the folder ``out``."""
    if fmt.kind == "png":
        for i, frame in enumerate(video.frames()):
            Image.fromarray(frame).save(Path(out) / f"{i:06d}.png", format="PNG")
        return
    import av

    if fmt.kind == "h264" and fmt.crf and (video.width % 2 or video.height % 2):
        raise MediaError(f"H.264 4:2:0 needs an even width and height, this video is {video.width}x{video.height}: "
                         "write it lossless (crf 0), as .y4m or as PNG frames")
    with av.open(out, "w", format=fmt.container) as container:
        if fmt.kind == "y4m":
            stream, pix_fmt = container.add_stream("rawvideo", rate=video.frame_rate), "yuv444p"
        elif fmt.crf == 0:
            stream, pix_fmt = container.add_stream("libx264rgb", rate=video.frame_rate, options={"qp": "0"}), "rgb24"
        else:
            options = {"crf": str(fmt.crf), "preset": "medium"}
            stream, pix_fmt = container.add_stream("libx264", rate=video.frame_rate, options=options), "yuv420p"
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, pix_fmt
        for frame in video.frames():
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(picture if pix_fmt == "rgb24" else picture.reformat(format=pix_fmt)))
        container.mux(stream.encode())


def modality_of(path) -> str:
    """"audio", "video" or "image", from the file's suffix."""
    suffix = Path(path).suffix.lower()
    return "audio" if suffix in AUDIO_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else "image"


MEDIA = {  # modality -> (read, format of path, write)
    "image": (read_image, image_format, write_image),
    "audio": (read_audio, audio_format, write_audio),
    "video": (read_video, video_format, write_video),
}
