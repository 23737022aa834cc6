"""Logging for the app's and the worker's processes: one line format, the level from
LOG_LEVEL, and libraries that would log every request kept to their warnings."""

from __future__ import annotations

import logging
import os

# Loggers that speak at INFO on every call. (A provider's client that does, and whose lines
# name residents, is kept quiet by its channel.)
QUIET_LOGGERS = {
    "alembic": logging.WARNING,
}


def configure_logging() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
