"""A readable console for small runs (``latro demo``, the warm start and LoRA runs of ``warm_start.py``): one progress
bar with a few chosen metrics instead of a dict printed at every log step. Nothing here is installed by default."""

from __future__ import annotations

from transformers import TrainerCallback


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
