"""Batch tokenization on several GPUs or machines through Lightning.

Apart from :mod:`latentcodec.batch_tokenize` so that ``import latentcodec``
does not import Lightning, while the LightningModule stays importable by
name, as ``ddp_spawn`` needs to send it to its processes.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from latentcodec.batch_tokenize import Job


class ShardTokenizer(L.LightningModule):
    """Tokenizes shard k on rank k % world size: each rank writes only its own shards and their records."""

    def __init__(self, job: Job, todo: list[int]):
        super().__init__()
        self.job, self.todo = job, todo
        if isinstance(job.tokenizer.model, nn.Module):
            self.net = job.tokenizer.model  # a submodule, so Lightning moves it to the rank's device

    def predict_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        return DataLoader([k for k in self.todo if k % world == rank], batch_size=None)

    def predict_step(self, k: int, batch_idx: int) -> int:
        self.job.shard(k)
        return k  # not None, which Lightning would warn about

    def on_predict_end(self) -> None:
        self.trainer.strategy.barrier("shards written")  # rank 0 merges the records only once all exist


def run_on_ranks(job: Job, todo: list[int], devices, accelerator: str, num_nodes: int, progress: bool) -> bool:
    """Tokenizes shards ``todo`` on ``devices`` x ``num_nodes`` ranks; True on global rank 0.

    GPUs use "ddp" (Lightning reruns the command for each further rank); CPUs
    use "ddp_spawn" with gloo, which also works when called from Python."""
    gpu = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
    trainer = L.Trainer(accelerator="gpu" if gpu else "cpu", devices=devices, num_nodes=num_nodes,
                        strategy="ddp" if gpu else "ddp_spawn", use_distributed_sampler=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress)
    trainer.predict(ShardTokenizer(job, todo), return_predictions=False)
    return trainer.is_global_zero
