"""Reports: metric definitions, the per-conversation facts they are computed from, and queries."""
