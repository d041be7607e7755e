"""Where the speech codec loses quality: PESQ-WB with the first n quantizer
stages and with no quantizer at all, on a sample of development recordings.

Takes shipped weights or a training checkpoint, so checkpoints can be
compared before export. Whole recordings go through the torch model
(``AudioCodecModel.forward``), the same arithmetic streams run. Also prints
the reconstruction error (no quantizer) by position within the frame,
relative to the signal's mean power: a decoder that joins frames badly
shows it at the first samples.

    python benchmarks/audio_quality_by_depth.py pretrained/audio/speech-codec-16k.safetensors
    python benchmarks/audio_quality_by_depth.py runs/.../checkpoints/last.ckpt --every 30 --limit 20
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from latentcodec.codecs.audio_codec import load_audio_model
from latentcodec.evaluation.audio_quality import audio_files, load_clip, pesq_wb


def load_model(path: str):
    if path.endswith(".ckpt"):
        from latentcodec.training.audio_codec import AudioCodecTraining
        from latentcodec.training.cli import _trained_module

        return _trained_module(AudioCodecTraining, path)[0].codec.eval()
    return load_audio_model(path)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a .safetensors weight file or a Lightning .ckpt")
    parser.add_argument("--data", default="~/.cache/latentcodec/data/speech/eval")
    parser.add_argument("--every", type=int, default=30, help="take every k-th recording")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--stages", default="3,6,12")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.weights)
    frame, stages = model.config.frame, [int(s) for s in args.stages.split(",")]
    scores = {n: [] for n in [*stages, None]}
    error, power = np.zeros(frame), 0.0
    files = audio_files(args.data)[:: args.every][: args.limit]
    with torch.no_grad():
        for path in files:
            pcm = load_clip(path).samples[0]
            x = torch.from_numpy(pcm[: len(pcm) // frame * frame])[None]
            for n in stages:
                scores[n].append(pesq_wb(x[0].numpy(), model(x, n)[0][0].numpy()))
            latents, _ = model.analyze(x.reshape(1, -1, frame), model.initial_encoder_state())
            y = model.synthesize(latents, model.initial_decoder_state())[0].reshape(1, -1)
            scores[None].append(pesq_wb(x[0].numpy(), y[0].numpy()))
            error += ((y - x).reshape(-1, frame) ** 2).sum(0).numpy()
            power += float((x**2).sum()) / frame
    print(f"{args.weights}: {len(files)} recordings (every {args.every}th of {args.data}), PESQ-WB means")
    for n, values in scores.items():
        print(f"  {'no quantizer' if n is None else f'{n} stages':<14}{np.mean(values):.3f}")
    relative = error / power
    print("  error / signal power by sample of the frame (no quantizer): first 4",
          np.round(relative[:4], 3), f"mid-frame mean {relative[frame // 4 : 3 * frame // 4].mean():.3f}")


if __name__ == "__main__":
    main()
