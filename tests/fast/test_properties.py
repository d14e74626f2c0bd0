"""Property-based: any JSON value, in any field or as the whole body, gets a
4xx (or success) JSON answer, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API, PASSWORD

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

BODIES = {
    "register": {"username": "ann", "email": "ann@example.com", "password": PASSWORD},
    "login": {"email": "ann@example.com", "password": PASSWORD},
    "token": {"username": "ann", "password": PASSWORD},
    "logout-all": {"keep_current": True},
}
FIELDS = [(endpoint, field) for endpoint, body in BODIES.items() for field in body]

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post_json(client: FlaskClient, endpoint: str, body: str | bytes) -> Any:
    return client.post(f"{API}/{endpoint}", data=body, content_type="application/json")


def assert_answered(response: Any) -> None:
    assert response.status_code < 500, response.json
    assert response.mimetype == "application/json"
    body = response.json
    if response.status_code >= 400:
        assert "detail" in body


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_value_in_any_field(client: FlaskClient, data: st.DataObject) -> None:
    endpoint, field = data.draw(st.sampled_from(FIELDS))
    value = data.draw(json_values)
    body = {**BODIES[endpoint], field: value}
    assert_answered(
        client.post(f"{API}/{endpoint}", data=json.dumps(body), content_type="application/json")
    )


@PROPERTY_SETTINGS
@given(endpoint=st.sampled_from(list(BODIES)), body=json_values)
def test_any_json_document_as_the_body(client: FlaskClient, endpoint: str, body: Any) -> None:
    assert_answered(
        client.post(f"{API}/{endpoint}", data=json.dumps(body), content_type="application/json")
    )


@PROPERTY_SETTINGS
@given(endpoint=st.sampled_from(list(BODIES)), raw=st.binary(max_size=200))
def test_any_bytes_as_the_body(client: FlaskClient, endpoint: str, raw: bytes) -> None:
    assert_answered(post_json(client, endpoint, raw))


@PROPERTY_SETTINGS
@given(
    form=st.dictionaries(st.sampled_from(["username", "password", "grant_type", "x"]), st.text())
)
def test_any_token_form(client: FlaskClient, form: dict[str, str]) -> None:
    assert_answered(client.post(f"{API}/token", data=form))
