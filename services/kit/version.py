"""The one version string every estiba component reports."""

from importlib import metadata

try:
    VERSION = metadata.version("estiba")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0.1.0"

GIT_COMMIT = "unknown"
