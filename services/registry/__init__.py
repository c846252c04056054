"""The registry: stores images and serves them over the OCI Distribution HTTP API.

Its gRPC API (``estiba.registry.v1``) is for administration.
"""
