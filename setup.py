"""Builds the range coder's C extension; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "latentcodec.entropy._range_coder",
            sources=[
                "latentcodec/entropy/csrc/range_coder.c",
                "latentcodec/entropy/csrc/range_coder_module.c",
            ],
            depends=["latentcodec/entropy/csrc/range_coder.h"],
            extra_compile_args=["-std=c99", "-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ]
)
