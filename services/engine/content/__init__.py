"""OCI content on a node: digests, media types, manifests, and the blob store they live in."""
