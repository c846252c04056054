from services.engine.config import EngineConfig
from services.engine.main import main
from services.kit.daemon import run

run("engine", EngineConfig, main)
