"""latro-trl: LaTRO (LaTent Reasoning Optimization, arXiv 2411.04282) as a Hugging Face TRL trainer."""

__version__ = "0.1.0"

__all__ = ["LaTROConfig", "LaTROTrainer", "__version__"]


def __getattr__(name: str):
    # Lazy so that `latro --help`, the data helpers and the pure math import without loading TRL.
    if name == "LaTROConfig":
        from .config import LaTROConfig

        return LaTROConfig
    if name == "LaTROTrainer":
        from .trainer import LaTROTrainer

        return LaTROTrainer
    raise AttributeError(f"module 'latro_trl' has no attribute {name!r}")
