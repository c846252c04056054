"""The gateway: the Docker Engine API (and /estiba/v1 extensions) in front of the services.

Thin by design: one request becomes one call to one service, or a fan-out for lists and
system views. It holds no state but its configuration.
"""
