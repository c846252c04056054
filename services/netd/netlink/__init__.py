"""The kernel side of netd: namespaces, links, addresses, routes and sysctls.

The only package that imports pyroute2. Everything it raises is a ``services.kit.errors`` class.
"""
