"""API keys, rate limits, usage ledger and metrics: not built yet."""
