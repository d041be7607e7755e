"""Builds the C extensions (range coder, integer autoregressive model, trellis and residual VQ searches, streaming
trunk kernels); everything else is in pyproject.toml."""

from setuptools import Extension, setup

FLAGS = ["-std=c99", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]  # no FMA: the same bits from every build

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
            "latentcodec.entropy._autoregressive",
            sources=[
                "latentcodec/entropy/csrc/autoregressive.c",
                "latentcodec/entropy/csrc/autoregressive_module.c",
                "latentcodec/entropy/csrc/autoregressive_training.c",
                "latentcodec/entropy/csrc/range_coder.c",
            ],
            depends=[
                "latentcodec/entropy/csrc/autoregressive.h",
                "latentcodec/entropy/csrc/autoregressive_training.h",
                "latentcodec/entropy/csrc/range_coder.h",
                "latentcodec/csrc/matvec.h",
            ],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "latentcodec.codecs._stream_kernels",
            sources=["latentcodec/codecs/csrc/causal_block.c", "latentcodec/codecs/csrc/stream_kernels_module.c"],
            depends=["latentcodec/codecs/csrc/causal_block.h", "latentcodec/csrc/matvec.h"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "latentcodec.quantizers._residual_search",
            sources=[
                "latentcodec/quantizers/csrc/residual_search.c",
                "latentcodec/quantizers/csrc/residual_search_module.c",
            ],
            depends=["latentcodec/quantizers/csrc/residual_search.h", "latentcodec/csrc/matvec.h"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "latentcodec.quantizers._trellis",
            sources=["latentcodec/quantizers/csrc/trellis.c", "latentcodec/quantizers/csrc/lattice_trellis.c",
                     "latentcodec/quantizers/csrc/trellis_module.c"],
            depends=["latentcodec/quantizers/csrc/trellis.h", "latentcodec/quantizers/csrc/lattice_trellis.h"],
            extra_compile_args=FLAGS,
        ),
    ]
)
