"""netd: networks, addresses and each container's network sandbox on one node."""
