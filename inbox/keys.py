"""The deployment's secret (SECRET_KEY) and the keys derived from it, one per purpose.

The app and the worker read the same secret, so a digest one of them computes is the digest
the other looks up.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from inbox.storage.db import ROOT

SECRET_FILE = ROOT / "var" / "secret_key"


def secret_key() -> bytes:
    """SECRET_KEY from the environment, else one generated once into var/."""
    if value := os.environ.get("SECRET_KEY"):
        return value.encode()
    if SECRET_FILE.exists():
        return SECRET_FILE.read_bytes().strip()
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def derived_key(purpose: str) -> bytes:
    """A key for one purpose: knowing it reveals neither the secret nor another purpose's key."""
    return hmac.new(secret_key(), purpose.encode(), hashlib.sha256).digest()
