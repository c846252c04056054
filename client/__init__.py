"""The estiba CLI: a Docker Engine API client on the standard library."""
