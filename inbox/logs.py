"""Logging for the app's and the worker's processes: one line format, the level from
LOG_LEVEL, and libraries that would log every request kept to their warnings."""

from __future__ import annotations

import logging
import os

# Loggers that speak at INFO on every call. The Twilio client's lines (one set per REST
# request: URL, headers, form) name residents' phone numbers, which logs must not carry.
QUIET_LOGGERS = {
    "alembic": logging.WARNING,
    "twilio": logging.WARNING,
}


def configure_logging() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
