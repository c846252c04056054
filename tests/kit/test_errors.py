from __future__ import annotations

import grpc
import pytest

from services.kit import errors


def test_every_grpc_code_maps_back_to_a_class() -> None:
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        assert code in errors.BY_GRPC_CODE, code


@pytest.mark.parametrize("cls", errors.ALL_ERRORS)
def test_round_trip_through_the_grpc_code(cls: type[errors.EstibaError]) -> None:
    assert errors.BY_GRPC_CODE[cls.grpc_code] is cls


def test_http_statuses_follow_docker() -> None:
    assert errors.NotFound.http_status == 404
    assert errors.AlreadyExists.http_status == 409
    assert errors.FailedPrecondition.http_status == 409
    assert errors.InvalidArgument.http_status == 400
    assert errors.Unavailable.http_status == 503


def test_message_and_reason() -> None:
    exc = errors.NotFound("no such image: x", reason="IMAGE_UNKNOWN")
    assert str(exc) == "no such image: x"
    assert exc.reason == "IMAGE_UNKNOWN"
