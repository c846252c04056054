"""netd's rules: networks, address management, sandboxes and their reconciliation at start.

Nothing here knows gRPC, SQL, netlink or nftables. Managers take their storage and the kernel
through the protocols in ``ports`` and raise only ``services.kit.errors`` classes, each with a
``reason`` (``NETWORK_UNKNOWN``, ``SUBNET_EXHAUSTED``, ...).
"""
