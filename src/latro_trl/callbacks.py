"""Training callbacks that LaTROTrainer installs by default."""

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


class CompactProgressCallback(TrainerCallback):
    """One progress bar whose postfix shows a few chosen metrics, instead of a dict printed at every log step.

    Use it in place of transformers' ``ProgressCallback`` where the console must stay readable (``latro demo``):
    ``trainer.remove_callback(ProgressCallback); trainer.add_callback(CompactProgressCallback({...}))``.

    Args:
        metrics: log key -> short label shown in the bar, e.g. ``{"reward": "reward"}``.
        desc: the bar's description.
    """

    def __init__(self, metrics: dict[str, str], desc: str = "training"):
        self.metrics, self.desc = metrics, desc
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            shown = {label: f"{logs[key]:.3g}" for key, label in self.metrics.items() if key in logs}
            if shown:
                self.bar.set_postfix(shown, refresh=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def use_compact_progress(trainer, metrics: dict[str, str], desc: str = "training") -> None:
    """Replace ``trainer``'s default progress output (a bar plus a dict per log step) by a :class:`CompactProgressCallback`.

    Both defaults go: ``ProgressCallback``, and ``PrinterCallback`` which transformers installs instead when the
    logging level hides progress bars (``disable_tqdm``).
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(CompactProgressCallback(metrics, desc=desc))
