"""How the speech postfilter's constants were chosen: PESQ-WB, mel distance
and SI-SDR of the decoded speech through each setting, on training
recordings (so the development set stays unseen).

The speech runs through the torch model at variable depth (nominal 7
stages, about 3 kbit/s); each setting filters the same decoded samples.
The shipped setting is the strongest formant filter that keeps mel distance
within 10% and SI-SDR within 1 dB of no postfilter.

    python benchmarks/speech_postfilter_settings.py [--weights pretrained/audio/speech-codec-16k.safetensors]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from latentcodec.codecs.audio_codec import load_audio_model
from latentcodec.codecs.speech_postfilter import SpeechPostfilter
from latentcodec.evaluation.audio_quality import audio_files, load_clip, mel_distance, pesq_wb, si_sdr

SETTINGS = {  # name: (formant numerator and denominator, pitch gain); equal factors: no formant filter
    "pitch only": ((0.5, 0.5), 0.3),
    "formant 0.5/0.8, no pitch": ((0.5, 0.8), 0.0),
    "formant 0.5/0.8": ((0.5, 0.8), 0.3),
    "formant 0.6/0.75": ((0.6, 0.75), 0.3),
    "formant 0.7/0.8": ((0.7, 0.8), 0.3),
    "formant 0.65/0.75 (shipped)": ((0.65, 0.75), 0.3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="pretrained/audio/speech-codec-16k.safetensors")
    parser.add_argument("--data", default="~/.cache/latentcodec/data/speech/train")
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--stages", type=int, default=7, help="nominal depth of the variable-depth coding")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _, _, depth = load_audio_model(args.weights)
    frame, rate = model.config.frame, model.config.sample_rate
    files = audio_files(args.data)
    pairs = []
    with torch.no_grad():
        for path in files[:: max(1, len(files) // args.files)][: args.files]:
            x = load_clip(path).samples[0]
            x = x[: len(x) // frame * frame]
            if len(x) >= 20 * frame:  # PESQ needs some length
                y = model(torch.from_numpy(x)[None], model.config.num_quantizers, float(depth.thresholds[args.stages - 1]))[0]
                pairs.append((x, y[0].numpy()))
    print(f"{len(pairs)} recordings of {args.data}, variable depth of nominal {args.stages} stages")

    def report(name, filtered):
        pesq = np.mean([pesq_wb(x, z) for (x, _), z in zip(pairs, filtered)])
        mel = np.mean([mel_distance(torch.from_numpy(z)[None], torch.from_numpy(x)[None], rate) for (x, _), z in zip(pairs, filtered)])
        sdr = np.mean([float(si_sdr(torch.from_numpy(z), torch.from_numpy(x))) for (x, _), z in zip(pairs, filtered)])
        print(f"  {name:<30} PESQ-WB {pesq:.3f}  mel distance {mel:.3f}  SI-SDR {sdr:5.2f} dB")

    report("no postfilter", [y for _, y in pairs])
    for name, (formant, pitch_gain) in SETTINGS.items():
        filtered = []
        for _, y in pairs:
            postfilter = SpeechPostfilter(rate, frame, formant, pitch_gain)
            filtered.append(np.concatenate([postfilter(f) for f in y.reshape(-1, frame)]))
        report(name, filtered)


if __name__ == "__main__":
    main()
