"""Telegram through python-telegram-bot: webhook or polling in, the Bot API out."""

import os

# python-telegram-bot 22 warns on every 429 that `retry_after` will become a timedelta, unless
# a program opts in to that now; we read both (`api.seconds`).
os.environ.setdefault("PTB_TIMEDELTA", "1")
