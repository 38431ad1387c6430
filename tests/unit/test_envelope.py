"""Every error code of §2 is classified in one place."""

import httpx
import pytest

from connectors.platform import errors as e
from connectors.platform.envelope import classify


def answer(status: int, code: int, data=None, headers=None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": "m", "request_id": "r", "data": data},
                          headers=headers or {})


def test_success_returns_data():
    assert classify(answer(200, 0, {"x": 1})) == {"x": 1}


@pytest.mark.parametrize("status,code,kind", [
    (200, 50001, e.RetriableError), (500, 50001, e.RetriableError), (503, 50301, e.RetriableError),
    (429, 42901, e.RetriableError), (200, 42901, e.RetriableError), (401, 40102, e.ResignError),
    (401, 40103, e.ResignError), (401, 40101, e.FatalError), (400, 40001, e.FatalError),
    (403, 40301, e.RegionForbidden), (404, 40401, e.NotFound), (409, 40901, e.ConflictError),
    (410, 41001, e.CursorExpired),
])
def test_codes(status, code, kind):
    with pytest.raises(kind) as err:
        classify(answer(status, code))
    assert err.value.code == code


def test_retry_after_from_header_or_data():
    with pytest.raises(e.RetriableError) as err:
        classify(answer(429, 42901, headers={"Retry-After": "3"}))
    assert err.value.retry_after == 3.0
    with pytest.raises(e.RetriableError) as err:
        classify(answer(200, 42901, {"retry_after": 2}))
    assert err.value.retry_after == 2.0


def test_truncated_body_is_retriable():
    with pytest.raises(e.RetriableError):
        classify(httpx.Response(200, content=b'{"code": 0, "data": {"items": ['))


def test_conflict_carries_current_version():
    with pytest.raises(e.ConflictError) as err:
        classify(answer(409, 40901, {"current_version": 4, "status": "withdrawn"}))
    assert (err.value.current_version, err.value.status) == (4, "withdrawn")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_not_a_new_target(status):
    with pytest.raises(e.FatalError, match="redirect"):
        classify(httpx.Response(status, headers={"Location": "http://elsewhere/x"},
                                json={"code": 0, "message": "", "request_id": "r", "data": {}}))
