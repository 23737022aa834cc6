"""Telegram through python-telegram-bot: webhook or polling in, the Bot API out."""
