"""Builds the C extensions (range coder, trellis search); everything else is in pyproject.toml."""

from setuptools import Extension, setup

FLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]

setup(
    ext_modules=[
        Extension(
            "latentcodec.entropy._range_coder",
            sources=[
                "latentcodec/entropy/csrc/range_coder.c",
                "latentcodec/entropy/csrc/range_coder_module.c",
            ],
            depends=["latentcodec/entropy/csrc/range_coder.h"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "latentcodec.quantizers._trellis",
            sources=["latentcodec/quantizers/csrc/trellis.c", "latentcodec/quantizers/csrc/trellis_module.c"],
            depends=["latentcodec/quantizers/csrc/trellis.h"],
            extra_compile_args=FLAGS,
        ),
    ]
)
