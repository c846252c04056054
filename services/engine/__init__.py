"""The engine of a node: images (pull, unpack, build, commit) and containers (runc + conmon)."""
