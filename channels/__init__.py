"""Channels: one file per provider (inbound parsing and verification, outbound sending)."""
