"""The engine's client of the OCI Distribution HTTP API: pull and push against any registry."""
