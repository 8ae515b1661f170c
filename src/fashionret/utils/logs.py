"""Terminal output: each log record once."""

from __future__ import annotations

import logging

#: the loggers ``lightning`` (always) and ``lightning.pytorch`` / ``lightning.fabric`` (when imported before logging
#: was configured) give a console handler of their own
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def one_line_per_record() -> None:
    """Under Hydra the root logger already writes every record to the terminal and the job's log file, so
    Lightning's own console handlers printed its info lines a second time (``INFO: Seed set to 42``): they are
    removed and its records go through the root logger's handlers only. Without root handlers (a plain script)
    nothing changes."""
    if not logging.getLogger().handlers:
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:  # Lightning's stderr console, not a file or Hydra's handler
                logger.removeHandler(handler)
        logger.propagate = True
