"""Entropy parameters that come out of float networks, identical whatever the thread count.

A hyper-decoder's scales pick the CDF table of every latent, so the encoder
and the decoder must compute them bit for bit alike. PyTorch's CPU kernels
split their sums by thread, so the same weights and inputs give slightly
different floats under another thread count (``OMP_NUM_THREADS``, another
machine size), and a scale near a table boundary then picks another table:
the decoder reads garbage. Code that turns hyper-latents into entropy
parameters therefore runs on one thread, the same in every process. The
transforms (analysis, synthesis) keep all threads: their floats change
pixels in the last bit, never what is parsed.
"""

from __future__ import annotations

import functools

import torch


def one_thread(method):
    """Runs ``method`` with torch on one CPU thread, then restores the count."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper
