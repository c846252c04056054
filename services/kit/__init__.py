"""The toolkit every estiba daemon is built from.

A module belongs here only when two or more services use it. Import submodules explicitly
(``from services.kit import errors``); this package re-exports nothing.
"""
