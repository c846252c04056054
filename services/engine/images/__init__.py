"""Images on a node: the domain rules (pull, push, tag, remove, save, load, import, build)."""
