"""What can go wrong when talking to estiba, as the CLI reports it."""

from __future__ import annotations


class ClientError(Exception):
    """An error the CLI prints in one line and turns into exit code 125."""


class ConnectionFailed(ClientError):
    """Nothing answers at the gateway address."""


class APIError(ClientError):
    """The gateway answered with an error status; ``message`` is Docker's ``message`` field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotFound(APIError):
    """404."""


class Conflict(APIError):
    """409."""


class Unavailable(APIError):
    """503: a service behind the gateway is down."""


BY_STATUS: dict[int, type[APIError]] = {404: NotFound, 409: Conflict, 503: Unavailable}


def from_status(status: int, message: str) -> APIError:
    return BY_STATUS.get(status, APIError)(status, message)
