from services.gateway.config import GatewayConfig
from services.gateway.main import main
from services.kit.daemon import run

run("gateway", GatewayConfig, main)
