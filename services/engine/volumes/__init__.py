"""Named volumes: directories under the engine's state dir that containers mount."""
