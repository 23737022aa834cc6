"""The web chat: the resident-facing page and widget, the WebSocket protocol, its limits and
its error catalogue."""
