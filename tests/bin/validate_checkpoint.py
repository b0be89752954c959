"""Validation statistics of one emotion checkpoint through ESPnet's own validation path.

    python validate_checkpoint.py <exp>/config.yaml <checkpoint.pth> <out.json>
    torchrun --nproc_per_node 2 validate_checkpoint.py ...   # the same under DDP (gloo, CPU)

The validation set, batch type and sizes come from the exp's config.yaml. ESPnet builds the
iterator (under DDP: every batch dealt batch[rank::world_size]), the model is wrapped in
DistributedDataParallel as the trainer wraps it, and ``EmotionTrainer.validate_one_epoch``
reports loss, acc (WA) and ua; rank 0 writes them with the number of utterances counted.
"""

import argparse
import json
import logging
import os
import sys

import torch
import yaml
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter

from espnet_qieemo.tasks.emotion import EmotionTask
from espnet_qieemo.utils.distributed import clean_exit


class _Counted(logging.Handler):
    """Keeps the trainer's 'valid UA over N utterances' line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.utterances = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("valid UA over "):
            self.utterances = int(msg.split()[3])


def main(config: str, checkpoint: str, out: str) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    args = argparse.Namespace(**yaml.safe_load(open(config)))
    args.ngpu, args.num_workers = 0, 0
    dist = DistributedOption(distributed=world > 1, dist_backend="gloo", ngpu=0)
    dist.init_options()
    dist.init_torch_distributed()
    model, _ = EmotionTask.build_model_from_file(config, checkpoint, "cpu")
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    iterator = EmotionTask.build_iter_factory(args=args, distributed_option=dist, mode="valid").build_iter(1)
    counted = _Counted()
    logging.getLogger().addHandler(counted)
    logging.getLogger().setLevel(logging.INFO)
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("valid") as sub:
        EmotionTask.trainer.validate_one_epoch(
            model=model,
            iterator=iterator,
            reporter=sub,
            options=EmotionTask.trainer.build_options(args),
            distributed_option=dist,
        )
    if not dist.distributed or dist.dist_rank == 0:
        stats = {key: float(reporter.get_value("valid", key)) for key in ("loss", "acc", "ua")}
        stats.update(utterances=counted.utterances, world_size=world)
        with open(out, "w") as f:
            json.dump(stats, f)


if __name__ == "__main__":
    with clean_exit():
        main(*sys.argv[1:])
