"""Adapters from the container domain's ports to the image service and to netd."""
