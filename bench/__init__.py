"""Benchmarks that measure estiba against its anchors on the same machine (see README.md)."""
