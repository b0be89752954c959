"""ESPnet's Trainer plus an epoch-level UA stat (mean per-class recall).

UA is not a mean of per-batch values: the model counts a confusion matrix over the whole
epoch and the trainer registers the recall mean once at the end, so
``--best_model_criterion valid ua max`` selects on the real validation UA. Under DDP each
rank counts its shard of every batch (ESPnet deals batch[rank::world_size]) and the counts
are summed over the ranks, so UA covers every utterance exactly once; the number counted is
logged.

Resuming reads the run's own ``checkpoint.pth`` as data only: ``emo_train`` makes every
``torch.load`` weights-only, and the few plain types ESPnet's reporter stores are allowed here.
"""

import logging
from typing import Callable, Iterable, Optional, Sequence

import torch
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import SubReporter
from espnet2.train.trainer import Trainer, TrainerOptions

from espnet_qieemo.emo.espnet_model import RecallTally
from espnet_qieemo.utils.weights import CHECKPOINT_GLOBALS


def _core(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)  # unwrap DataParallel / DDP


class EmotionTrainer(Trainer):
    @classmethod
    def resume(cls, *args, **kwargs) -> None:
        """ESPnet's resume, with the reporter's plain types allowed in a weights-only load."""
        with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
            super().resume(*args, **kwargs)

    @classmethod
    def _with_ua(
        cls,
        part: str,
        run: Callable,
        model: torch.nn.Module,
        reporter: SubReporter,
        distributed_option: DistributedOption,
        **kwargs,
    ):
        """Run one epoch with the model counting its confusions, then register ``ua``."""
        core = _core(model)
        core.tally = RecallTally(len(core.labels))
        try:
            result = run(model, reporter=reporter, distributed_option=distributed_option, **kwargs)
            confusion = core.tally.confusion
            if distributed_option.distributed:
                confusion = confusion.to(next(core.parameters()).device)
                torch.distributed.all_reduce(confusion)
                core.tally.confusion = confusion.cpu()
            logging.info(f"{part} UA over {int(core.tally.confusion.sum())} utterances")
            reporter.register({"ua": core.tally.unweighted_accuracy()})
            reporter.next()
        finally:
            core.tally = None
        return result

    @classmethod
    def train_one_epoch(
        cls,
        model: torch.nn.Module,
        iterator: Iterable,
        optimizers: Sequence[torch.optim.Optimizer],
        schedulers: Sequence[Optional[object]],
        scaler: Optional[object],
        reporter: SubReporter,
        summary_writer: Optional[object],
        options: TrainerOptions,
        distributed_option: DistributedOption,
    ) -> bool:
        return cls._with_ua(
            "train",
            super().train_one_epoch,
            model,
            reporter,
            distributed_option,
            iterator=iterator,
            optimizers=optimizers,
            schedulers=schedulers,
            scaler=scaler,
            summary_writer=summary_writer,
            options=options,
        )

    @classmethod
    def validate_one_epoch(
        cls,
        model: torch.nn.Module,
        iterator: Iterable,
        reporter: SubReporter,
        options: TrainerOptions,
        distributed_option: DistributedOption,
    ) -> None:
        return cls._with_ua(
            "valid",
            super().validate_one_epoch,
            model,
            reporter,
            distributed_option,
            iterator=iterator,
            options=options,
        )
