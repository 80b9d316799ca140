"""Training callbacks that LaTROTrainer installs by default (the demo's progress display is :mod:`latro_trl.progress`)."""

from __future__ import annotations

import logging
import signal

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class SaveOnInterruptCallback(TrainerCallback):
    """On SIGTERM or SIGINT, finish the current optimizer step, write a checkpoint and stop.

    Schedulers (SLURM, Kubernetes) send SIGTERM before killing a job; Ctrl-C sends SIGINT. Either way the run can be
    continued with ``trainer.train(resume_from_checkpoint=True)``. A second signal interrupts at once.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.received: int | None = None
        self._previous = {}

    def on_train_begin(self, args, state, control, **kwargs):
        try:
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: signals cannot be caught here
            self._previous.clear()

    def _handle(self, signum, frame):
        if self.received is not None:  # second signal: give up gracefully-stopping
            self._restore()
            signal.raise_signal(signum)
            return
        self.received = signum
        logger.warning("Received %s: saving a checkpoint after this step, then stopping.", signal.Signals(signum).name)

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._restore()

    def _restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
