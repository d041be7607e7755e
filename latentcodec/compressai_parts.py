"""The parts of CompressAI that coding uses, without ``import compressai``.

``compressai/__init__.py`` imports all of CompressAI, its point-cloud datasets
and torch_geometric among them (seconds at start-up), and importing any
submodule runs it first. So these submodules are imported under stand-ins for
the packages above them that are not imported yet; the stand-ins are then
removed, so a later ``import compressai`` (training, ``compressai_interop``
users) runs CompressAI's own ``__init__`` files over these same submodules.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from importlib import import_module
from importlib.util import find_spec, module_from_spec


@contextmanager
def _standing_in(packages: list[str], **attributes):
    """Each of ``packages`` not imported yet is, during the block, a module made but not run, holding ``attributes``."""
    added = [p for p in packages if p not in sys.modules]
    try:
        for package in added:
            sys.modules[package] = module_from_spec(find_spec(package))
            vars(sys.modules[package]).update(attributes)
        yield
    finally:
        for package in added:
            del sys.modules[package]


def _submodule(name: str):
    with _standing_in([name.rsplit(".", depth)[0] for depth in range(name.count("."), 0, -1)]):
        return import_module(name)


GDN = _submodule("compressai.layers.gdn").GDN
LowerBound = _submodule("compressai.ops.bound_ops").LowerBound
_utils = _submodule("compressai.models.utils")
conv, deconv, gaussian_blur, gaussian_kernel2d = _utils.conv, _utils.deconv, _utils.gaussian_blur, _utils.gaussian_kernel2d


class EntropyBottleneck(_submodule("compressai.entropy_models.entropy_models").EntropyBottleneck):
    """CompressAI's. Its constructor asks the ``compressai`` package for the
    entropy coder to use, which latentcodec never does (it has its own); so
    unless CompressAI is imported anyway, it is told CompressAI's default."""

    def __init__(self, *args, **kwargs):
        with _standing_in(["compressai"], available_entropy_coders=lambda: ["ans"], get_entropy_coder=lambda: "ans"):
            super().__init__(*args, **kwargs)
