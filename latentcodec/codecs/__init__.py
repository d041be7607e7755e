"""Modality codecs. Each module registers its codecs when it is imported; the
registry imports it when one of them is first loaded, so a new codec is one
entry here (its name and module), or a weight file in a folder below."""

CODECS = {  # codec name: the module that registers it
    "lossless-image": "latentcodec.codecs.lossless_image",
    **{f"overfit-image-q{q}": "latentcodec.codecs.overfit_image" for q in range(1, 6)},  # its QUALITIES
}

WEIGHT_FOLDERS = {  # folder of pretrained/: the module that registers its NAME.safetensors as codec NAME
    "": "latentcodec.codecs.image",
    "audio": "latentcodec.codecs.audio_codec",
    "video": "latentcodec.codecs.video_codec",
}
