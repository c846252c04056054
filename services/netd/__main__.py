from services.kit.daemon import run
from services.netd.config import NetdConfig
from services.netd.main import main

run("netd", NetdConfig, main)
