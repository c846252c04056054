from services.kit.daemon import run
from services.registry.config import RegistryConfig
from services.registry.main import main

run("registry", RegistryConfig, main)
