"""Links to one stored attachment for those who hold no agent session: a provider fetching
the file an agent sent (Twilio reads `MediaUrl` from our server) and the resident's own chat
window. A link names the message, the attachment's place and an expiry, signed with a key
derived from SECRET_KEY: it cannot be guessed, cannot be turned into another file's link, and
stops working when it expires. `web.shared_media` serves them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from inbox.keys import derived_key

PURPOSE = "media-link"
PATH = "/media/{message_id}/{index}/{name}"
# A provider fetches the file within seconds of the send; an hour covers its own retries. A
# resident may scroll back to a file in the chat for a week.
PROVIDER_TTL_S = 3600
RESIDENT_TTL_S = 7 * 24 * 3600


def signature(message_id: int, index: int, expires: int, key: bytes | None = None) -> str:
    mac = hmac.new(key or derived_key(PURPOSE), f"{message_id}/{index}/{expires}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def link(base_url: str, message_id: int, index: int, filename: str | None, ttl_s: int,
         now: float | None = None) -> str:
    """The signed address of attachment `index` of message `message_id`, under `base_url`
    (the deployment's public URL; "" for a link relative to this site)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    name = quote((filename or "file").replace("/", "_"), safe="")
    path = PATH.format(message_id=message_id, index=index, name=name)
    return (f"{base_url.rstrip('/')}{path}?expires={expires}"
            f"&signature={signature(message_id, index, expires)}")


def valid(message_id: int, index: int, expires: str, given: str,
          now: float | None = None) -> bool:
    """Whether a link's expiry and signature hold for this attachment, and it has not
    expired."""
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    expected = signature(message_id, index, int(expires))
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))
