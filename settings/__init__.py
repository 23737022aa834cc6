"""The deployment's configuration: loading, interpolation and validation of config.yaml."""

from settings.loader import ConfigError, Problem, load_config, load_config_text
from settings.model import (
    BusinessHours,
    Channels,
    Config,
    EmailChannel,
    Intake,
    KeywordOverride,
    Limits,
    Mailbox,
    Media,
    Outbox,
    Queue,
    RoutingConfig,
    RuleConfig,
    Sla,
    WebchatChannel,
)

__all__ = [
    "BusinessHours",
    "Channels",
    "Config",
    "ConfigError",
    "EmailChannel",
    "Intake",
    "KeywordOverride",
    "Limits",
    "Mailbox",
    "Media",
    "Outbox",
    "Problem",
    "Queue",
    "RoutingConfig",
    "RuleConfig",
    "Sla",
    "WebchatChannel",
    "load_config",
    "load_config_text",
]
