"""Healthchecks: the engine runs a container's probe command inside it and keeps the verdict."""
