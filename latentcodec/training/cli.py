"""``latentcodec train ...`` and ``train-tokenizer ...`` (LightningCLI), ``latentcodec export`` and ``export-tokenizer``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch

from latentcodec.codecs.tokenizers import load_tokenizer, save_tokenizer
from latentcodec.training.image_data import ImageFolderData
from latentcodec.training.rate_distortion import RateDistortion
from latentcodec.training.tokenizer import TokenizerTraining


def _lightning_cli(verb: str, module: type[L.LightningModule], argv: list[str], data=ImageFolderData) -> None:
    from lightning.pytorch.cli import LightningCLI

    sys.argv = [f"{Path(sys.argv[0]).name} {verb}", *argv]  # LightningCLI parses sys.argv
    LightningCLI(module, data, save_config_kwargs={"overwrite": True})


def train(argv: list[str]) -> None:
    """``latentcodec train fit --config configs/NAME.yaml`` and LightningCLI's other verbs."""
    _lightning_cli("train", RateDistortion, argv)


def train_tokenizer(argv: list[str]) -> None:
    """``latentcodec train-tokenizer fit --config configs/image-tokenizer-NAME.yaml`` and LightningCLI's other verbs."""
    _lightning_cli("train-tokenizer", TokenizerTraining, argv)


def train_audio(argv: list[str]) -> None:
    """``latentcodec train-audio fit --config configs/speech-codec-16k.yaml`` and LightningCLI's other verbs."""
    from latentcodec.training.audio_codec import AudioCodecTraining
    from latentcodec.training.audio_data import SpeechData

    _lightning_cli("train-audio", AudioCodecTraining, argv, SpeechData)


def train_video(argv: list[str]) -> None:
    """``latentcodec train-video fit --config configs/video-ssf-small.yaml`` and LightningCLI's other verbs."""
    from latentcodec.training.video_codec import VideoCodecTraining
    from latentcodec.training.video_data import VideoClipData

    _lightning_cli("train-video", VideoCodecTraining, argv, VideoClipData)


def export_video(checkpoint: str, output: str, measure_on: list[str] | None = None, frames: int = 60, gop: int = 12) -> dict:
    """Writes a video training checkpoint's P-frame model as a safetensors
    weight file (fp16) naming its intra codec, which must be installed with
    the weights it was trained with. With ``measure_on`` (video files or
    folders), first codes their first ``frames`` frames through the weights
    as shipped and stores kbit/s, PSNR and speed with them."""
    from latentcodec import registry
    from latentcodec.codecs.video_codec import VideoCodec, save_video_model
    from latentcodec.training.video_codec import VideoCodecTraining

    trained_with = torch.load(checkpoint, map_location="cpu", weights_only=True).get("intra_weights")
    module, hp, steps = _trained_module(VideoCodecTraining, checkpoint)
    intra = registry.load(hp["intra"])
    if trained_with != intra.weights_hash:
        raise ValueError(f"{checkpoint} was trained with intra weights {trained_with} of {hp['intra']}; "
                         f"the installed ones are {intra.weights_hash}")
    model = module.model.eval()
    with torch.no_grad():
        for p in model.parameters():  # what save_video_model keeps
            p.copy_(p.half().float())
    info = {"lmbda": hp["lmbda"], "steps": steps}
    if measure_on:
        from latentcodec.evaluation.video_rd import codec_point, read_clip, video_files

        clips = [read_clip(path, frames) for path in video_files(measure_on)]
        point = codec_point(VideoCodec(Path(output).stem, model, "unsaved", intra), clips, gop)
        info |= {"kbps": round(point.kbps, 2), "bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3),
                 "encode_fps": round(point.encode_fps, 2), "decode_fps": round(point.decode_fps, 2),
                 "gop": gop, "frames": frames, "measured_on": [str(p) for p in measure_on]}
    save_video_model(model, output, intra, **info)
    return info


def _trained_module(module: type[L.LightningModule], checkpoint: str) -> tuple[L.LightningModule, dict, int]:
    """(module with the checkpoint's weights, its hyper-parameters, training steps)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    accepted = inspect.signature(module).parameters  # LightningCLI adds keys of its own
    hp = {k: v for k, v in state["hyper_parameters"].items() if k in accepted}
    trained = module(**hp)
    trained.load_state_dict(state["state_dict"])
    return trained, hp, state["global_step"]


def export(checkpoint: str, output: str, measure_on: str | None = None) -> dict:
    """Writes a training checkpoint's model as a safetensors weight file; with
    ``measure_on``, first measures the weights as shipped (fp16) on a folder of
    images by real coding and stores mean bpp and PSNR with them."""
    from latentcodec.codecs.image import ImageCodec, save_weights
    from latentcodec.evaluation.rate_distortion import codec_point
    from latentcodec.media import image_files, read_image

    module, hp, steps = _trained_module(RateDistortion, checkpoint)
    model = module.model.eval()
    with torch.no_grad():
        for p in model.parameters():  # what save_weights keeps
            p.copy_(p.half().float())
    info = {"lmbda": hp["lmbda"], "distortion": hp["distortion"], "steps": steps}
    if measure_on:
        images = [read_image(p)[..., :3] for p in image_files(measure_on)]
        point = codec_point(ImageCodec(Path(output).stem, model, "unsaved"), images)
        info |= {"bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3), "ms_ssim": round(point.ms_ssim, 4), "measured_on": str(measure_on)}
    save_weights(model, output, hp["model"], **info)
    return info


def export_tokenizer(checkpoint: str, output: str, measure_on: str | None = None) -> dict:
    """Writes a tokenizer checkpoint as a safetensors weight file (fp16); with
    ``measure_on``, measures the file as written on that folder's RGB images
    (see :func:`_measure_tokenizer`) and stores the figures with it."""
    from latentcodec.media import image_files, read_image

    module, hp, steps = _trained_module(TokenizerTraining, checkpoint)
    info = {"loss": hp["loss"], "steps": steps}
    save_tokenizer(module.tokenizer, output, **info)
    if measure_on:
        tokenizer = load_tokenizer(output)  # the fp16 weights, as shipped
        images = [image[..., :3] for image in map(read_image, image_files(measure_on)) if image.ndim == 3]
        info |= _measure_tokenizer(tokenizer, images) | {"measured_on": str(measure_on)}
        save_tokenizer(tokenizer, output, **info)
    return info


def _tokenizer_views(tokenizer, image: np.ndarray) -> np.ndarray:
    """What a tokenizer is measured on: the image cropped to its downsampling
    grid, or, for a tokenizer of one image size S, the S x S tiles of the image
    resized to short sides S, 2S, 4S, ... up to its own (whole scenes and details)."""
    from PIL import Image

    from latentcodec.training.tokenizer import tiles

    size = tokenizer.image_size
    if size is None:
        d = tokenizer.downsample
        return image[None, : image.shape[0] // d * d, : image.shape[1] // d * d]
    views, h, w = [], *image.shape[:2]
    short = size
    while short <= min(h, w):
        resized = Image.fromarray(image).resize((round(w * short / min(h, w)), round(h * short / min(h, w))), Image.LANCZOS)
        views.append(tiles(torch.from_numpy(np.asarray(resized)).permute(2, 0, 1)[None], size).permute(0, 2, 3, 1))
        short *= 2
    return torch.cat(views).numpy() if views else np.zeros((0, size, size, 3), np.uint8)


def _measure_tokenizer(tokenizer, images: list[np.ndarray]) -> dict:
    """Mean PSNR of detokenize(tokenize(x)) over the views of the images (see
    :func:`_tokenizer_views`), the fraction of the vocabulary their tokens use,
    and tokenize's speed on the CPU, one image's views at a time."""
    import time

    from latentcodec.evaluation.rate_distortion import psnr

    batches = [v for v in (_tokenizer_views(tokenizer, image) for image in images) if v.size]
    if not batches:
        raise ValueError("no RGB image to measure on is large enough for the tokenizer")
    qualities, used, seconds, count = [], torch.zeros(tokenizer.vocab_size, dtype=torch.bool), 0.0, 0
    for views in batches:
        start = time.perf_counter()
        tokens = tokenizer.tokenize(views)
        seconds += time.perf_counter() - start
        count += tokens.numel()
        used[tokens.reshape(-1)] = True
        qualities += [psnr(v, r) for v, r in zip(views, tokenizer.detokenize(tokens).numpy())]
    return {"psnr": round(float(np.mean(qualities)), 3), "utilization": round(used.float().mean().item(), 4),
            "tokens_per_second": round(count / seconds), "views": len(qualities)}


def finetune_quantized(codec, output: str, quantizer: str = "uniform", steps: int = 1000, lr: float = 1e-4,
                       measure_on: str | None = None, command: str = "", **data) -> dict:
    """``latentcodec finetune-quantized``: retrains an image codec's synthesis
    on the latents ``quantizer`` really produces, then writes the synthesis
    (over the codec's weights, which must lie beside ``output``) and a model
    card. Returns what it stored in the weights' info."""
    import copy
    import os
    import platform
    import time

    from latentcodec.codecs.image import ImageCodec, save_synthesis
    from latentcodec.evaluation.rate_distortion import codec_point
    from latentcodec.media import image_files, read_image
    from latentcodec.training.quantized_finetuning import finetune

    if not isinstance(codec, ImageCodec):
        raise ValueError(f"{codec.name} is not a learned image codec")
    spec = codec.new_quantizer(quantizer).spec()
    start = time.time()
    synthesis = finetune(codec, spec, steps, lr, **data)
    minutes = (time.time() - start) / 60
    model = copy.deepcopy(codec.model)
    model.g_s = synthesis
    with torch.no_grad():
        for p in model.g_s.parameters():  # what save_synthesis keeps
            p.copy_(p.half().float())
    info = {"quantizer": spec, "base": codec.name, "finetune_steps": steps, "lr": lr,
            "minutes": round(minutes, 1), "data": {k: v if isinstance(v, (int, float)) else str(v) for k, v in data.items()}}
    measured = {}
    if measure_on:
        images = [read_image(p)[..., :3] for p in image_files(measure_on)]
        images = [im for im in images if im.ndim == 3]
        for name, m in (("base", codec.model), ("finetuned", model)):
            point = codec_point(ImageCodec(Path(output).stem, m, "unsaved"), images, quantizer=spec)
            measured[name] = {"bpp": round(point.bpp, 4), "psnr": round(point.psnr, 3), "ms_ssim": round(point.ms_ssim, 4)}
        info |= measured["finetuned"] | {"measured_on": str(measure_on)}
    save_synthesis(model, output, codec, **info)
    card = Path(output).with_suffix(".md")
    card.write_text(_finetune_card(Path(output).stem, codec, spec, info, measured, command,
                                   f"{torch.get_num_threads()} torch thread(s) on a {os.cpu_count()}-core CPU "
                                   f"({platform.processor() or platform.machine()})"))
    return info


def _finetune_card(name, codec, spec, info, measured, command, hardware) -> str:
    rows = "\n".join(f"| {k} | {v['bpp']:.4f} | {v['psnr']:.3f} | {v['ms_ssim']:.4f} |" for k, v in measured.items())
    data = info["data"]
    return f"""# {name}

The synthesis transform of `{codec.name}`, finetuned on the latents that the
`{spec}` quantizer really produces (arXiv 2506.08662). Everything that makes
the indices (analysis, hyperprior, entropy model, quantizer) is `{codec.name}`'s
own and frozen, so the rate is unchanged; the file holds only the synthesis
(fp16) and loads over `{codec.name}` (weights {codec.weights_hash}), which must
be installed beside it. Encoding with this codec uses `{spec}` unless told otherwise.

## Training data

{data.get('crops_per_image', 16)} random {data.get('crop', 256)}x{data.get('crop', 256)} crops (with flips) of each photo in
`{data.get('train_dir')}` (`latentcodec data fetch images`), drawn once, passed through the frozen
encoder and the quantizer, and cached. The development images were never trained on.

## Training

Finetuning of the synthesis only, on top of `{codec.name}` (see its card for how that was trained):

- {info['finetune_steps']} steps, batch {data.get('batch_size', 8)}, Adam, lr {info['lr']} with cosine decay, MSE loss.
- {info['minutes']} minutes on {hardware}, no GPU.
- Command: `{command}`

## Measured

On the development set ({info.get('measured_on', 'not measured')}), real coding of whole `.lc` files
with `{spec}`, means over images:

| decoder | bpp | PSNR (dB) | MS-SSIM |
|---|---|---|---|
{rows}
"""


def export_audio(checkpoint: str, output: str, prior_from: str = "~/.cache/latentcodec/data/speech/train",
                 prior_files: int | None = None, context_groups: int = 64, measure_on: str | None = None,
                 measure_files: int = 100, postfilter: bool | None = None, search_beam: int | None = None) -> dict:
    """Writes an audio codec checkpoint (or weights, to renew their tables)
    as a safetensors weight file (fp16) with its entropy-coding prior, fit to
    the indices of ``prior_files`` recordings (all when not given) of
    ``prior_from`` (training data, never the development set): with
    ``context_groups`` groups of first indices as context
    (``ResidualIndexPrior.fit``; 0: a static table per stage); and, from the
    same recordings, the variable-depth thresholds and depth tables
    (``VariableDepth.calibrate``). ``postfilter`` and ``search_beam``
    set the config's speech postfilter and encoder search (left out: as the
    source has them). With
    ``measure_on``, codes that folder's first ``measure_files`` recordings
    (every k-th) through the file as written and stores the figures with it
    (see :func:`_measure_audio`)."""
    from latentcodec.codecs.audio_codec import AudioCodec, VariableDepth, load_audio_model, save_audio_model
    from latentcodec.entropy.residual_index_prior import ResidualIndexPrior
    from latentcodec.training.audio_codec import AudioCodecTraining
    from latentcodec.training.audio_data import read_folder

    if checkpoint.endswith(".safetensors"):
        model, _, source_info, _ = load_audio_model(checkpoint)
        steps = 2 * source_info.get("steps", 0)
    else:
        module, _, steps = _trained_module(AudioCodecTraining, checkpoint)
        model = module.codec.eval()
    settings = {"postfilter": postfilter, "search_beam": search_beam}
    model.config = dataclasses.replace(model.config, **{k: v for k, v in settings.items() if v is not None})
    model.as_stored()
    recordings = read_folder(prior_from, model.config.sample_rate)
    recordings = recordings[:: max(1, len(recordings) // (prior_files or len(recordings)))]
    sizes = model.quantizer.codebook_sizes
    indices, norms = stage_search(model, recordings)
    prior = ResidualIndexPrior.fit(indices, sizes, context_groups)
    depth = VariableDepth.calibrate(norms, np.log2(sizes))
    info = {"steps": steps // 2, "prior_from": f"{len(recordings)} recordings of {prior_from}"}
    save_audio_model(model, output, prior, depth, **info)
    if measure_on:
        info |= _measure_audio(AudioCodec.from_file(output), measure_on, measure_files) | {"measured_on": str(measure_on)}
        save_audio_model(model, output, prior, depth, **info)
    return info


def stage_search(model, recordings, beam: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per int16 recording (of a frame or more) coded at full depth: each
    frame's indices and residual norms per stage (the frozen quantizers'
    ``search``, with ``beam``, or the model's beam when not given)."""
    stages, frame = model.config.num_quantizers, model.config.frame
    quantizer, indices, norms = model.quantizer.frozen(), [], []
    with torch.inference_mode():
        for pcm in (r for r in recordings if len(r) >= frame):
            frames = torch.from_numpy(pcm[: len(pcm) // frame * frame] / 32768.0).float()
            latents = model.analyze(frames.reshape(1, -1, frame), model.initial_encoder_state())[0][0].numpy()
            paths, frame_norms = quantizer.search(latents, stages, beam or model.config.search_beam)
            indices.append(paths[:, -1])
            norms.append(frame_norms)
    return indices, norms


def _measure_audio(codec, folder: str, files: int) -> dict:
    """Per bitrate, over ``files`` whole recordings (every k-th) coded through
    real ``.lc`` files: mean kbit/s of the whole file (the nominal rate is that
    of fixed-length indices), mel distance and SI-SDR. And over every
    recording of the folder: the fraction of each stage's codebook in use."""
    from latentcodec.container import unpack
    from latentcodec.evaluation.audio_quality import mel_distance, si_sdr
    from latentcodec.media import Audio
    from latentcodec.training.audio_data import read_folder

    everything = [r for r in read_folder(folder, codec.sample_rate) if len(r) >= codec.frame]
    recordings = everything[:: max(1, len(everything) // files)]
    samples = sum(len(r) for r in recordings)
    out = {"files": len(recordings), "seconds": round(samples / codec.sample_rate, 1), "bitrates": {}}
    stages = len(codec.bitrates)
    for bitrate in sorted({codec.bitrates[min(2, stages - 1)], codec.bitrates[min(5, stages - 1)], codec.bitrates[-1]}):
        packet_bits = mel = sdr = 0.0
        for r in recordings:
            x = (r / 32768.0).astype(np.float32)
            # the top rate is every stage: more than variable depth's rate control can spend on some speech
            data = codec.compress(Audio(x[None], codec.sample_rate), bitrate=bitrate,
                                  variable=None if bitrate < codec.bitrates[-1] else False)
            header, chunks = unpack(data)
            packet_bits += 8 * len(data)  # the whole file
            x_hat = torch.from_numpy(codec.decode_chunks(header.meta, chunks).samples[0])
            mel += mel_distance(x_hat[None], torch.from_numpy(x)[None], codec.sample_rate) * len(r)
            sdr += float(si_sdr(x_hat, torch.from_numpy(x))) * len(r)
        out["bitrates"][f"{bitrate:g}"] = {"packet_kbps": round(packet_bits / (samples / codec.sample_rate) / 1000, 3),
                                          "mel_distance": round(mel / samples, 4), "si_sdr": round(sdr / samples, 2)}
    used = [set() for _ in range(stages)]
    for r in everything:
        for stage, column in enumerate(codec.tokenize(r).numpy()):
            used[stage].update(column.tolist())
    out["utilization"] = [round(len(u) / s, 4) for u, s in zip(used, codec.model.quantizer.codebook_sizes)]
    out["utilization_frames"] = sum(-(-len(r) // codec.frame) for r in everything)
    return out
