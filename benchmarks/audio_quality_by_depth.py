"""Where the speech codec loses quality: PESQ-WB with the first n quantizer
stages, at variable depth of nominal n stages (also through the speech
postfilter), and with no quantizer at all, on a sample of development recordings.

Takes shipped weights or a training checkpoint, so checkpoints can be
compared before export (a checkpoint's variable-depth thresholds are
calibrated as ``export-audio`` does, on fewer training recordings, for the
greedy search; shipped weights keep theirs, fit to their beam). Whole
recordings go through the torch model (``AudioCodecModel.forward``, which
searches greedily, as training quantizes); streams run the same network in
C with the config's beam search, so a shipped codec's own figures
(``latentcodec eval audio``) are a little higher. Variable depth also shows
its cost before entropy coding: index bits plus the depth's information.
Also prints the reconstruction error (no quantizer) by position within the
frame, relative to the signal's mean power: a decoder that joins frames
badly shows it at the first samples.

    python benchmarks/audio_quality_by_depth.py pretrained/audio/speech-codec-16k.safetensors
    python benchmarks/audio_quality_by_depth.py runs/.../checkpoints/last.ckpt --every 30 --limit 20
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from latentcodec.codecs.audio_codec import VariableDepth, load_audio_model
from latentcodec.codecs.speech_postfilter import SpeechPostfilter
from latentcodec.evaluation.audio_quality import audio_files, load_clip, pesq_wb
from latentcodec.training.audio_data import read_folder
from latentcodec.training.cli import stage_search


def load_model(path: str, calibrate_on: str, files: int):
    """(model, its variable-depth tables)."""
    if path.endswith(".ckpt"):
        from latentcodec.training.audio_codec import AudioCodecTraining
        from latentcodec.training.cli import _trained_module

        model = _trained_module(AudioCodecTraining, path)[0].codec.eval()
        depth = None
    else:
        model, _, _, depth = load_audio_model(path)
    if depth is None:
        recordings = read_folder(calibrate_on, model.config.sample_rate)
        norms = stage_search(model, recordings[:: max(1, len(recordings) // files)], beam=1)[1]
        depth = VariableDepth.calibrate(norms, np.log2(model.quantizer.codebook_sizes))
    return model, depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a .safetensors weight file or a Lightning .ckpt")
    parser.add_argument("--data", default="~/.cache/latentcodec/data/speech/eval")
    parser.add_argument("--every", type=int, default=30, help="take every k-th recording")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--stages", default="3,6,12")
    parser.add_argument("--calibrate-on", default="~/.cache/latentcodec/data/speech/train",
                        help="training recordings for a checkpoint's variable-depth thresholds")
    parser.add_argument("--calibrate-files", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, depth = load_model(args.weights, args.calibrate_on, args.calibrate_files)
    frame, stages = model.config.frame, [int(s) for s in args.stages.split(",")]
    scores = {n: [] for n in [*stages, *[f"variable {n} stages" for n in stages], *[f"variable {n} stages, postfilter" for n in stages], None]}
    bits = {n: [] for n in stages}
    error, power = np.zeros(frame), 0.0
    files = audio_files(args.data)[:: args.every][: args.limit]
    with torch.no_grad():
        for path in files:
            pcm = load_clip(path).samples[0]
            if len(pcm) < model.config.sample_rate:  # PESQ needs a little more than a short prompt
                continue
            x = torch.from_numpy(pcm[: len(pcm) // frame * frame])[None]
            for n in stages:
                scores[n].append(pesq_wb(x[0].numpy(), model(x, n)[0][0].numpy()))
                y, indices, _ = model(x, model.config.num_quantizers, float(depth.thresholds[n - 1]))
                scores[f"variable {n} stages"].append(pesq_wb(x[0].numpy(), y[0].numpy()))
                postfilter = SpeechPostfilter(model.config.sample_rate, frame)
                filtered = np.concatenate([postfilter(f) for f in y[0].numpy().reshape(-1, frame)])
                scores[f"variable {n} stages, postfilter"].append(pesq_wb(x[0].numpy(), filtered))
                used = (indices[0] >= 0).numpy()
                depths = used.sum(1)
                tables = [depth.table(n, previous) for previous in [None, *depths[:-1]]]
                depth_bits = depth.tables.information_bits(depths - 1, np.array(tables))
                bits[n].append((used @ np.log2(model.quantizer.codebook_sizes)).sum() + depth_bits.sum())
            latents, _ = model.analyze(x.reshape(1, -1, frame), model.initial_encoder_state())
            y = model.synthesize(latents, model.initial_decoder_state())[0].reshape(1, -1)
            scores[None].append(pesq_wb(x[0].numpy(), y[0].numpy()))
            error += ((y - x).reshape(-1, frame) ** 2).sum(0).numpy()
            power += float((x**2).sum()) / frame
    print(f"{args.weights}: {len(files)} recordings (every {args.every}th of {args.data}), PESQ-WB means")
    seconds = sum(len(load_clip(p).samples[0]) // frame for p in files) * frame / model.config.sample_rate
    for n, values in scores.items():
        label = "no quantizer" if n is None else n if isinstance(n, str) else f"{n} stages"
        rate = f"  ({sum(bits[int(n.split()[1])]) / seconds / 1000:.3f} kbit/s before entropy coding)" if isinstance(n, str) else ""
        print(f"  {label:<34}{np.mean(values):.3f}{rate}")
    relative = error / power
    print("  error / signal power by sample of the frame (no quantizer): first 4",
          np.round(relative[:4], 3), f"mid-frame mean {relative[frame // 4 : 3 * frame // 4].mean():.3f}")


if __name__ == "__main__":
    main()
