"""Typed application state."""

from __future__ import annotations

from aiohttp import web

from services.gateway.backends import Backends
from services.gateway.config import GatewayConfig

BACKENDS = web.AppKey("backends", Backends)
CONFIG = web.AppKey("config", GatewayConfig)
