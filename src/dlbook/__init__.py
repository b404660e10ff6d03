"""dlbook: the helper package of the executable deep-learning book.

Chapters keep what they teach; this package keeps the plumbing (data, the
training loop, plots, benchmarking) and the pieces that a chapter first writes
out in full and later chapters import. Importing it has no side effects.
"""

from dlbook.report import report
from dlbook.setup import (
    PROFILES,
    Config,
    Session,
    config,
    detect_device,
    seed_everything,
    start,
)

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Config",
    "Session",
    "config",
    "detect_device",
    "report",
    "seed_everything",
    "start",
    "__version__",
]
