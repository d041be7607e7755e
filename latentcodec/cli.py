"""``latentcodec`` command line: encode, decode, inspect, list, demo.

Parsing the arguments imports no torch: each subcommand's module (in
:mod:`latentcodec.commands`) is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from latentcodec import datasets
from latentcodec.errors import BitstreamError, MediaError
from latentcodec.files import DEFAULT_AUDIO_MODEL, DEFAULT_IMAGE_MODEL, DEFAULT_TOKENIZER, DEFAULT_VIDEO_MODEL

EXPECTED_ERRORS = (BitstreamError, MediaError, OSError, KeyError, ValueError)
TRAIN_VERBS = ("train", "train-tokenizer", "train-audio", "train-video")  # LightningCLI owns everything after these


def _handler(target: str):
    """The subcommand ``module:function`` of :mod:`latentcodec.commands`, imported when it runs."""

    def run(args):
        module, _, function = target.partition(":")
        return getattr(import_module(f"latentcodec.commands.{module}"), function)(args)

    return run


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in TRAIN_VERBS:
        training = import_module("latentcodec.training.cli")
        getattr(training, argv[0].replace("-", "_"))(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="latentcodec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode", help="encode a media file to .lc")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", help="installed codec or family (see `latentcodec models`); by default "
                   f"{DEFAULT_IMAGE_MODEL} for images, {DEFAULT_AUDIO_MODEL} for audio, {DEFAULT_VIDEO_MODEL} for video")
    p.add_argument("--bitrate", type=float, help="audio codecs: kbit/s of the whole file, header included, kept within "
                   "10%% on any file of 2 s or more (or the encode fails); any from 0.5 to 6 (default 3). With "
                   "--constant-depth: the nominal rate of fixed-length indices, a multiple of 0.5")
    p.add_argument("--constant-depth", action="store_true", help="audio codecs: every frame takes the same number "
                   "of quantizer stages (packets of steady size) instead of as many as it needs (the default)")
    p.add_argument("--quality", type=int, help="rate point of a family: NAME-q<QUALITY> (default: its middle one)")
    p.add_argument("--gop", type=int, help="video codecs: frames from one intra frame to the next (default 12)")
    p.add_argument("--quantizer", help="learned image codecs: uniform or tcq (trellis-coded), optionally with "
                   "options, e.g. tcq:states=4,lmbda=0.05 (default: the model's own)")
    p.add_argument("--refine", type=int, metavar="STEPS", help="learned image codecs: optimize the latent for "
                   "this image by STEPS gradient steps before coding it (smaller files, slower encoding; 100-200 "
                   "is typical; decoding is unchanged)")
    p.add_argument("--preset", choices=("fast", "medium", "slow"), help="overfit-image: encoder effort, the "
                   "iterations of per-image training (default medium; see docs/OVERFIT_IMAGE.md)")
    p.add_argument("--lmbda", type=float, help="overfit-image: rate-distortion trade-off in place of --quality "
                   "(loss = MSE + LMBDA * bits per pixel; 0.0003 to 0.02 is useful)")
    p.add_argument("--decoder", choices=("small", "medium", "large"), help="overfit-image: decoder size, about "
                   "500, 900 or 1,800 multiply-accumulates per pixel (default medium)")
    p.set_defaults(run=_handler("coding:encode"))
    p = sub.add_parser("decode", help="decode a .lc file; the output format follows its suffix")
    p.add_argument("input")
    p.add_argument("output", help="for video: .mp4/.mkv/.mov (H.264), .y4m, or a folder (PNG frames)")
    p.add_argument("--crf", type=int, help="video to .mp4: 0 (default) writes lossless RGB H.264; 1..51 writes "
                   "4:2:0 H.264 at that CRF, which every player plays (18 is visually lossless)")
    p.set_defaults(run=_handler("coding:decode"))
    p = sub.add_parser("info", help="what a .lc file holds, without decoding it")
    p.add_argument("input")
    p.set_defaults(run=_handler("info:info"))
    sub.add_parser("models", help="installed codecs and tokenizers").set_defaults(run=_handler("info:models"))
    sub.add_parser("demo", help="code the bundled photo and print sizes and speed").set_defaults(run=_handler("demo:demo"))
    p = sub.add_parser("eval", help="measure codecs against classic peers")
    kinds = p.add_subparsers(dest="kind", required=True)
    p = kinds.add_parser("rd", help="rate-distortion of images: our models vs JPEG/WebP/AVIF, BD-rates, plot")
    p.add_argument("folder", help="folder of test images")
    p.add_argument("--models", default="", help="comma-separated codec names or families (NAME for NAME-q1..qN); "
                   "NAME@SETTINGS codes with encoder settings joined by +: a quantizer and/or KEY=VALUE options "
                   "(e.g. mbt2018-mean-small@tcq+refine=100, overfit-image@preset=fast)")
    p.add_argument("--anchor", help="one of --models: also give the others' BD-rates against it")
    p.add_argument("--baselines", default="jpeg,webp,avif", help="comma-separated: jpeg, webp, avif")
    p.add_argument("--plot", help="write the rate-distortion curves to this PNG")
    p.add_argument("--jobs", type=int, default=1, help="code the rate points in this many processes (one torch "
                   "thread each)")
    p.set_defaults(run=_handler("evaluate:rd"))
    p = kinds.add_parser("audio", help="speech quality vs real bitrate: our audio codecs vs Opus and Codec2, plot")
    p.add_argument("folder", help="folder of speech files (coded and compared as 16 kHz mono)")
    p.add_argument("--models", default="", help="comma-separated installed audio codecs")
    p.add_argument("--bitrates", default="", help="comma-separated kbit/s for --models (default: all each offers)")
    p.add_argument("--baselines", default="opus,codec2", help="comma-separated: opus, codec2")
    p.add_argument("--opus-bitrates", default="6,8,12", help="comma-separated kbit/s")
    p.add_argument("--codec2-modes", default="3200,2400,1600,1200,700C", help="comma-separated Codec2 modes")
    p.add_argument("--limit", type=int, help="use N files, spread evenly over the sorted folder")
    p.add_argument("--seconds", type=float, help="code only the first S seconds of each file")
    p.add_argument("--plot", help="write quality vs kbit/s (one panel per metric) to this PNG")
    p.set_defaults(run=_handler("evaluate:audio"))
    p = kinds.add_parser("video", help="PSNR vs bitrate of video codecs against x264/x265, BD-rates, fps, plot")
    p.add_argument("inputs", nargs="+", help="video files, or folders of them")
    p.add_argument("--models", help=f"comma-separated video codecs or families (default: {DEFAULT_VIDEO_MODEL} "
                   "if installed); NAME@QUANTIZER codes with that quantizer")
    p.add_argument("--baselines", default="x264,x265", help="comma-separated: x264, x265")
    p.add_argument("--frames", type=int, default=60, help="code the first N frames of each clip")
    p.add_argument("--gop", type=int, default=12, help="intra period, the same for every codec")
    p.add_argument("--crf", default="18,23,28,33,38", help="comma-separated CRF values for the baselines")
    p.add_argument("--plot", help="write PSNR vs kbit/s to this PNG")
    p.set_defaults(run=_handler("evaluate:video"))
    datasets.add_cli(sub)
    sub.add_parser("train", help="train a model: `latentcodec train fit --config configs/NAME.yaml` (LightningCLI)")
    p = sub.add_parser("export", help="write a training checkpoint's model as pretrained weights")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/ to install it as codec NAME")
    p.add_argument("--measure-on", help="folder of images: store the measured bpp and PSNR in the weights")
    p.set_defaults(run=_handler("training:export"))
    sub.add_parser("train-audio", help="train an audio codec: "
                   "`latentcodec train-audio fit --config configs/speech-codec-16k.yaml` (LightningCLI)")
    sub.add_parser("train-tokenizer", help="train an image tokenizer: "
                   "`latentcodec train-tokenizer fit --config configs/image-tokenizer-fsq-f8.yaml` (LightningCLI)")
    p = sub.add_parser("export-tokenizer", help="write a tokenizer training checkpoint as safetensors weights")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors")
    p.add_argument("--measure-on", help="folder of images: store the measured PSNR, codebook utilization and "
                   "tokenize speed in the weights")
    p.set_defaults(run=_handler("training:export_tokenizer"))
    p = sub.add_parser("export-audio", help="write an audio codec training checkpoint as safetensors weights "
                       "with its entropy-coding tables (or renew the tables of weights)")
    p.add_argument("checkpoint", help="a Lightning .ckpt, or a .safetensors weight file")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/audio/ to install it as codec NAME")
    p.add_argument("--prior-from", default="~/.cache/latentcodec/data/speech/train",
                   help="training recordings whose indices the prior and depth tables are fit to")
    p.add_argument("--prior-files", type=int, help="recordings of --prior-from to use (every k-th; default all)")
    p.add_argument("--context-groups", type=int, default=64,
                   help="groups of first indices the prior takes as context (0: a static table per stage)")
    p.add_argument("--measure-on", help="folder of recordings: store real bitrates, mel distance, SI-SDR and "
                   "codebook use in the weights")
    p.add_argument("--measure-files", type=int, default=100, help="recordings of --measure-on to code (every k-th)")
    p.add_argument("--postfilter", action=argparse.BooleanOptionalAction,
                   help="decode through the speech postfilter (default: as the checkpoint's config says)")
    p.add_argument("--search-beam", type=int, help="paths the encoders' codebook search keeps; the tables are "
                   "fit to its indices (default: as the checkpoint's config says)")
    p.set_defaults(run=_handler("training:export_audio"))
    sub.add_parser("train-video", help="train a video codec's P-frame model: "
                   "`latentcodec train-video fit --config configs/video-ssf-small.yaml` (LightningCLI)")
    p = sub.add_parser("export-video", help="write a video training checkpoint as safetensors weights naming "
                       "its intra codec")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/video/ to install it as codec NAME")
    p.add_argument("--measure-on", nargs="+", help="video files or folders: store kbit/s, PSNR and fps in the weights")
    p.add_argument("--frames", type=int, default=60, help="frames of each --measure-on clip to code")
    p.add_argument("--gop", type=int, default=12, help="intra period for --measure-on")
    p.set_defaults(run=_handler("training:export_video"))
    p = sub.add_parser("tokenize", help="tokenize images, videos or audio files into resumable token shards, "
                       "on one process or on several GPUs or machines")
    p.add_argument("inputs", nargs="+", help="folders of media files and/or .txt files with one path a line")
    p.add_argument("--out", required=True, help="output folder: shard-NNNNN.safetensors with their records "
                   "shard-NNNNN.index.jsonl, then index.jsonl, errors.jsonl, manifest.json")
    p.add_argument("--model", default=DEFAULT_TOKENIZER, help="an image tokenizer (weight file, or name in "
                   "pretrained/tokenizers/), which takes images and videos, or an installed audio codec (e.g. "
                   f"{DEFAULT_AUDIO_MODEL}), which takes audio files (default: {DEFAULT_TOKENIZER})")
    p.add_argument("--size", type=int, help="images and video frames are resized and centre-cropped to SIZE x SIZE "
                   "(default: the tokenizer's own size, else 256)")
    p.add_argument("--max-frames", type=int, default=64, metavar="N", help="videos: tokenize at most N frames")
    p.add_argument("--frame-step", type=int, default=1, metavar="N", help="videos: tokenize every N-th frame")
    p.add_argument("--n-quantizers", type=int, metavar="N", help="audio: codebook stages per frame (default: all)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="images or frames tokenized at once")
    p.add_argument("--shard-items", type=int, default=1000, metavar="N", help="items per shard")
    p.add_argument("--devices", type=int, metavar="N", help="run through Lightning DDP on N devices per machine, "
                   "each rank writing its own shards (without it: one process on the CPU)")
    p.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto", help="with --devices")
    p.add_argument("--num-nodes", type=int, default=1, metavar="N", help="machines, each running this command (Lightning DDP)")
    p.set_defaults(run=_handler("coding:tokenize"))
    p = sub.add_parser("finetune-quantized", help="retrain an image codec's synthesis on the latents a quantizer "
                       "really produces; writes the synthesis over the base weights, with a model card")
    p.add_argument("output", help="NAME.safetensors, beside the base weights (in pretrained/ to install it)")
    p.add_argument("--model", default=DEFAULT_IMAGE_MODEL, help="base codec or family")
    p.add_argument("--quality", type=int, help="rate point of a family")
    p.add_argument("--quantizer", default="uniform", help="uniform or tcq (with options, e.g. tcq:states=4)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam, with cosine decay to 0")
    p.add_argument("--train-dir", default="~/.cache/latentcodec/data/images/train")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--crops-per-image", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--measure-on", help="folder of images: measure base and finetuned decoders by real coding")
    p.set_defaults(run=_handler("training:finetune_quantized"))
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except EXPECTED_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) else e
        print(f"latentcodec {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
