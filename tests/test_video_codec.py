"""The video codec: exact and deterministic streams, GOP and seeking,
streaming, bad input, files and the command line, training, evaluation.

Models are tiny and untrained (seeded); frames are a real photo seen
through a moving window (a pan: real content, real motion).
"""

import io
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from skimage import data

import latentcodec
from latentcodec import BitstreamError, registry
from latentcodec.cli import main
from latentcodec.codecs.image import ImageCodec, save_weights
from latentcodec.codecs.image_models import MeanScaleHyperprior
from latentcodec.codecs.video import ScaleSpaceFlow, VideoModelConfig, gaussian_volume
from latentcodec.codecs.video_codec import VideoCodec, save_video_model
from latentcodec.container import ContainerReader, Header, pack, unpack
from latentcodec.media import MediaError, Video, VideoFile, VideoFormat, write_video

TINY = VideoModelConfig(n=16, m=24, levels=3)
INTRA, VIDEO = "test-video-intra", "test-video-tiny"


def pan(frames: int = 8, height: int = 64, width: int = 96) -> np.ndarray:
    """uint8 [frames, H, W, 3]: a window moving 3 px right and 1 px down per frame over a photo."""
    photo = data.astronaut()
    return np.stack([photo[100 + t : 100 + t + height, 150 + 3 * t : 150 + 3 * t + width] for t in range(frames)])


def clip(frames: int = 8, height: int = 64, width: int = 96) -> Video:
    return Video(pan(frames, height, width), Fraction(25))


def tiny_models():
    torch.manual_seed(0)
    return MeanScaleHyperprior(16, 24).eval(), ScaleSpaceFlow(TINY).eval()


@pytest.fixture(scope="module")
def codec():
    """Installed under their names (intra and video), so streams that name them decode."""
    intra_model, model = tiny_models()
    intra = ImageCodec(INTRA, intra_model, "1" * 16)
    video = VideoCodec(VIDEO, model, "2" * 16, intra)
    for c in (intra, video):
        registry._FACTORIES[c.name] = lambda c=c: c
    yield video
    for name in (INTRA, VIDEO):
        registry._FACTORIES.pop(name)
        registry._LOADED.pop(name, None)


@pytest.fixture(scope="module")
def coded(codec):
    """(stream bytes, the encoder's reconstructions) of a 10-frame pan with GOP 4."""
    encoder = codec.stream_encoder(gop=4)
    reconstructions = np.stack([encoder.encode(frame)[1] for frame in pan(10)])
    return codec.compress(clip(10), gop=4), reconstructions


def test_training_forward_gives_a_frame_and_likelihoods():
    _, model = tiny_models()
    model.train()
    x, ref = (torch.from_numpy(pan(2, 64, 128)[i]).permute(2, 0, 1)[None].float() / 255 for i in (1, 0))  # multiples of 64
    out = model(x, ref)
    assert out["x_hat"].shape == x.shape and out["prediction"].shape == x.shape
    assert set(out["likelihoods"]) == {"motion_y", "motion_z", "residual_y", "residual_z"}
    assert all(((0 < v) & (v <= 1)).all() for v in out["likelihoods"].values())
    sum(-torch.log2(v).sum() for v in out["likelihoods"].values()).backward()
    assert model.motion_encoder[0].weight.grad.abs().sum() > 0


def test_round_trip_is_exact_and_deterministic(codec, coded):
    stream, reconstructions = coded
    decoded = latentcodec.decompress(stream)
    assert decoded.pixels.shape == (10, 64, 96, 3) and decoded.frame_rate == 25
    assert np.array_equal(decoded.pixels, reconstructions)  # the encoder predicts from what the decoder has
    assert np.array_equal(latentcodec.decompress(stream).pixels, decoded.pixels)
    lazy = latentcodec.read(io.BytesIO(stream))
    assert np.array_equal(np.stack(list(lazy.frames())), decoded.pixels)
    assert codec.compress(clip(10), gop=4) == stream


def test_entropy_parameters_are_computed_on_one_thread_whatever_the_setting(codec, coded):
    """Kernels split sums by thread, so scales computed under another thread
    count can pick other tables (a real carphone stream encoded on 2 threads
    failed at frame 4 on 1); the hyper-decoders run on one thread on both sides."""
    seen = []
    hyper_decoders = (codec.model.motion_hyperprior.h_s, codec.model.residual_hyperprior.h_s, codec.intra.model.h_s)
    hooks = [m.register_forward_hook(lambda *_: seen.append(torch.get_num_threads())) for m in hyper_decoders]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        for encode_threads, decode_threads in ((3, 1), (1, 3)):
            torch.set_num_threads(encode_threads)
            stream = codec.compress(clip(6), gop=4)
            torch.set_num_threads(decode_threads)
            latentcodec.decompress(stream)
            assert torch.get_num_threads() == decode_threads  # restored afterwards
    finally:
        torch.set_num_threads(threads)
        for hook in hooks:
            hook.remove()
    assert len(seen) > 6 and set(seen) == {1}


def test_decoding_in_a_fresh_process_gives_identical_frames(codec, coded, tmp_path):
    """Through weight files, as installed codecs are: fp16 weights, loaded by name."""
    (tmp_path / "video").mkdir()
    save_weights(codec.intra.model, tmp_path / f"{INTRA}-file.safetensors", "mbt2018-mean")
    intra = ImageCodec.from_file(tmp_path / f"{INTRA}-file.safetensors")
    save_video_model(codec.model, tmp_path / "video" / "tiny-file.safetensors", intra, steps=0)
    try:
        registry._FACTORIES[intra.name] = lambda: codec.intra  # the same name with other weights
        with pytest.raises(ValueError, match="made for intra codec"):  # the video weights pin their intra codec
            VideoCodec.from_file(tmp_path / "video" / "tiny-file.safetensors")
        registry._FACTORIES[intra.name] = lambda: intra
        registry._LOADED.pop(intra.name, None)
        loaded = VideoCodec.from_file(tmp_path / "video" / "tiny-file.safetensors")
        assert loaded.intra is intra and loaded.info == {"steps": 0} and loaded.model.config == TINY
        (tmp_path / "x.lc").write_bytes(loaded.compress(clip(6), gop=3))
    finally:
        registry._FACTORIES.pop(intra.name)
        registry._LOADED.pop(intra.name, None)
    code = ("import sys, numpy as np, latentcodec; "
            "np.save(sys.argv[2], latentcodec.decompress(open(sys.argv[1], 'rb').read()).pixels)")
    env = os.environ | {"LATENTCODEC_PRETRAINED": str(tmp_path), "OMP_NUM_THREADS": "1"}
    for name in ("a.npy", "b.npy"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.lc"), str(tmp_path / name)], check=True, env=env)
    first, second = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert first.shape == (6, 64, 96, 3) and np.array_equal(first, second)
    assert np.array_equal(first, loaded.decompress((tmp_path / "x.lc").read_bytes()).pixels)


def test_gop_is_signalled_and_decoding_starts_at_any_frame(codec, coded):
    stream, reconstructions = coded
    header, chunks = unpack(stream)
    assert header.meta["gop"] == 4 and header.meta["intra"] == INTRA
    assert [c[:1] for c in chunks] == [b"I", b"P", b"P", b"P"] * 2 + [b"I", b"P"]
    for start in (0, 3, 4, 6, 9):
        part = codec.decode_from(ContainerReader(io.BytesIO(stream)), start)
        assert np.array_equal(part.read().pixels, reconstructions[start:])
    # the chunks from an intra frame on are a stream by themselves
    assert np.array_equal(codec.decode_chunks(header.meta, chunks[4:]).pixels, reconstructions[4:])
    with pytest.raises(ValueError, match="has 10 frames"):
        codec.decode_from(ContainerReader(io.BytesIO(stream)), 10).read()
    every_frame_intra = unpack(codec.compress(clip(3), gop=1))[1]
    assert [c[:1] for c in every_frame_intra] == [b"I"] * 3


def test_frames_stream_through_one_at_a_time(codec, coded):
    pulled = []

    class Source:  # like a VideoFile: frames are produced on demand
        width, height, frame_rate = 96, 64, Fraction(25)

        def frames(self):
            for i, frame in enumerate(pan(6)):
                pulled.append(i)
                yield frame

    _, chunks = codec.encode_chunks(Source(), gop=4)
    for k, _ in enumerate(chunks):
        assert len(pulled) == k + 1  # chunk k is out before frame k + 1 is read
    reader = ContainerReader(io.BytesIO(coded[0]))
    for k, _ in enumerate(codec.read(reader).frames()):
        assert reader.chunks_read == k + 1  # frame k is out before chunk k + 1 is read


def test_truncated_file_decodes_every_complete_frame_then_names_the_damage(codec, coded, tmp_path, capsys):
    stream, reconstructions = coded
    _, chunks = unpack(stream)
    start = len(stream) - 4 - sum(8 + len(c) for c in chunks)  # where chunk 0 begins
    cut = stream[: start + sum(8 + len(c) for c in chunks[:5]) + 4 + len(chunks[5]) // 2]  # inside frame 5
    frames = []
    with pytest.raises(BitstreamError, match=r"frame 5 \(0.200 s\).*truncated"):
        for frame in latentcodec.read(io.BytesIO(cut)).frames():
            frames.append(frame)
    assert np.array_equal(np.stack(frames), reconstructions[:5])
    (tmp_path / "cut.lc").write_bytes(cut)
    assert main(["decode", str(tmp_path / "cut.lc"), str(tmp_path / "out.mp4")]) == 1
    assert "frame 5" in capsys.readouterr().err and not (tmp_path / "out.mp4").exists()


def test_damaged_streams_raise_bitstream_errors(codec, coded):
    stream, _ = coded
    header, chunks = unpack(stream)
    with pytest.raises(BitstreamError, match="frame 0.*no intra frame"):
        codec.decode_chunks(header.meta, chunks[1:])
    with pytest.raises(BitstreamError, match="frame 0.*neither"):
        codec.decode_chunks(header.meta, [b"X" + chunks[0][1:]] + chunks[1:])
    for bad in (chunks[2][:-2], chunks[2] + b"\x07\x00"):
        with pytest.raises(BitstreamError, match="frame 2"):
            codec.decode_chunks(header.meta, chunks[:2] + [bad])
    for meta in ({}, header.meta | {"width": 0}, header.meta | {"frame_rate": "1/0"}, header.meta | {"intra": "other"},
                 header.meta | {"quantizer": {"name": "nope"}}):
        with pytest.raises(BitstreamError):
            codec.decode_chunks(meta, chunks)
    with pytest.raises(BitstreamError, match="weights"):
        latentcodec.decompress(pack(Header(VIDEO, "0" * 16, header.meta), chunks))


def test_odd_sizes_round_trip_to_the_same_size(codec, tmp_path):
    video = clip(3, 33, 47)
    decoded = latentcodec.decompress(codec.compress(video, gop=2))
    assert decoded.pixels.shape == (3, 33, 47, 3)
    for name, fmt in (("odd.mp4", VideoFormat("h264", "mp4")), ("odd.y4m", VideoFormat("y4m", "yuv4mpegpipe"))):
        with open(tmp_path / name, "wb") as f:
            write_video(f, decoded, fmt)
        back = VideoFile(tmp_path / name)
        assert (back.width, back.height, back.frame_rate, back.frame_count) == (47, 33, 25, 3)
        if name.endswith(".mp4"):  # lossless RGB H.264
            assert np.array_equal(back.read().pixels, decoded.pixels)
    with pytest.raises(MediaError, match="even width and height"):
        write_video(io.BytesIO(), decoded, VideoFormat("h264", "mp4", crf=18))
    grayscale = Video(pan(2)[..., 0], Fraction(25))  # [T, H, W] frames are coded as RGB
    assert latentcodec.decompress(codec.compress(grayscale)).pixels.shape == (2, 64, 96, 3)


def test_tcq_streams_decode_exactly(codec):
    encoder = codec.stream_encoder(gop=3, quantizer="tcq")
    reconstructions = np.stack([encoder.encode(frame)[1] for frame in pan(4)])
    stream = codec.compress(clip(4), gop=3, quantizer="tcq")
    assert unpack(stream)[0].meta["quantizer"]["name"] == "tcq"
    assert np.array_equal(latentcodec.decompress(stream).pixels, reconstructions)
    with pytest.raises(ValueError, match="gop"):
        codec.compress(clip(2), gop=0)


@pytest.mark.parametrize("suffix", [".mp4", ".y4m", ".avi"])
def test_cli_encode_info_decode(codec, tmp_path, capsys, suffix):
    source = tmp_path / f"in{suffix}"
    with open(source, "wb") as f:  # lossless H.264 (.mp4), raw 4:4:4 (.y4m), H.264 in AVI
        write_video(f, clip(7), VideoFormat("y4m", "yuv4mpegpipe") if suffix == ".y4m" else VideoFormat("h264", suffix[1:]))
    frames = VideoFile(source).read().pixels
    lc = tmp_path / "in.lc"
    assert main(["encode", str(source), str(lc), "--model", VIDEO, "--gop", "3"]) == 0
    assert main(["info", str(lc)]) == 0
    info = capsys.readouterr().out
    assert "frames:   7 (0.280 s" in info and "GOP 3: 3 intra frames, at 0, 3, 6" in info
    sizes = [len(c) for c in unpack(lc.read_bytes())[1]]
    assert f"I{sizes[0]:>7} P{sizes[1]:>7}" in info
    expected = codec.decompress(lc.read_bytes()).pixels
    assert expected.shape == frames.shape
    assert main(["decode", str(lc), str(tmp_path / "out.mp4")]) == 0
    assert np.array_equal(VideoFile(tmp_path / "out.mp4").read().pixels, expected)
    assert main(["decode", str(lc), str(tmp_path / "frames")]) == 0
    assert sorted(os.listdir(tmp_path / "frames")) == [f"{i:06d}.png" for i in range(7)]
    assert main(["decode", str(lc), str(tmp_path / "out.y4m")]) == 0
    assert VideoFile(tmp_path / "out.y4m").frame_count == 7
    assert main(["decode", str(lc), str(tmp_path / "small.mp4"), "--crf", "23"]) == 0
    assert main(["decode", str(lc), str(tmp_path / "frames")]) == 1  # not an empty folder
    assert "not an empty folder" in capsys.readouterr().err
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_variable_frame_rate_is_refused(tmp_path):
    import av

    with av.open(str(tmp_path / "vfr.mp4"), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "rgb24"
        for pts, frame in zip((0, 1, 2, 5, 6), pan(5)):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = pts, Fraction(1, 25)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    with pytest.raises(MediaError, match="variable frame rate.*frame 3"):
        VideoFile(tmp_path / "vfr.mp4")
    (tmp_path / "not.mp4").write_bytes(b"not a video")
    with pytest.raises(MediaError, match="not a readable video"):
        VideoFile(tmp_path / "not.mp4")


def test_training_steps_change_weights_and_export(codec, tmp_path):
    import lightning as L
    from torch.utils.data import DataLoader

    from latentcodec.training.cli import export_video
    from latentcodec.training.video_codec import VideoCodecTraining
    from latentcodec.training.video_data import VideoClipData

    folder = tmp_path / "train"
    folder.mkdir()
    np.save(folder / "gray.npy", pan(6, 80, 100)[..., 1])
    with open(folder / "color.mp4", "wb") as f:
        write_video(f, clip(6, 70, 110), VideoFormat("h264", "mp4"))
    clips = VideoClipData(str(folder), str(folder), frames=3, crop=64, clips_per_epoch=4, val_frames=3, batch_size=2)
    clips.setup()
    batch = next(iter(clips.train_dataloader()))
    assert batch.shape == (2, 3, 3, 64, 64) and 0 <= batch.min() and batch.max() <= 1
    assert [c.shape for c in clips.val_set.clips] == [(3, 3, 128, 128), (3, 3, 128, 128)]

    torch.manual_seed(0)
    module = VideoCodecTraining(intra=INTRA, model=TINY.to_dict(), lr=1e-3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", limit_val_batches=0)
    trainer.fit(module, DataLoader(clips.train_set, batch_size=2))
    after = module.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model."))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("intra."))  # frozen
    assert not module.intra.training

    trainer.save_checkpoint(tmp_path / "last.ckpt")
    info = export_video(str(tmp_path / "last.ckpt"), str(tmp_path / "exported.safetensors"))
    assert info == {"lmbda": 0.0067, "steps": 2}
    exported = VideoCodec.from_file(tmp_path / "exported.safetensors")
    assert exported.intra.name == INTRA
    assert exported.decompress(exported.compress(clip(3))).pixels.shape == (3, 64, 96, 3)


def test_eval_video_measures_us_and_x264_x265(codec, tmp_path, capsys):
    from latentcodec.evaluation import video_rd

    source = tmp_path / "clip.mp4"
    with open(source, "wb") as f:
        write_video(f, clip(6), VideoFormat("h264", "mp4"))
    for name in ("x264", "x265"):
        curve = video_rd.baseline_curve(name, [clip(6)], gop=3, crfs=(20, 40))
        assert curve[0].kbps > curve[1].kbps and curve[0].psnr > curve[1].psnr > 20
    plot = tmp_path / "rd.png"
    assert main(["eval", "video", str(source), "--models", VIDEO, "--frames", "4", "--gop", "2",
                 "--crf", "20,30,40", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "x264 crf 30" in out and "x265 crf 40" in out and VIDEO in out and plot.stat().st_size > 0
    assert f"BD-rate (PSNR) {VIDEO} vs x264:" in out and "BD-rate (PSNR) x265 vs x264:" in out


def test_gaussian_volume_is_compressais():
    """The shipped weights were trained on CompressAI's scale-space volume; ours must be the same."""
    from compressai.models.video.google import ScaleSpaceFlow as CompressAISSF

    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gaussian_volume(x, 1.5, 5), CompressAISSF.gaussian_volume(x, 1.5, 5))
