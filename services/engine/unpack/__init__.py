"""Layer tars → directories: the safe extractor and the node's store of unpacked layers."""
