"""schemathesis against `/openapi.json` of a real `rectify serve`, authenticated with an API
token: no generated request (valid by the schema, or not) gets a 5xx answer. Bounded to a
few dozen examples per operation so the suite stays quick; derandomized, so a failure
repeats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from .webserver import Server, running

EXAMPLES = 10


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           pg_ok: bool) -> Iterator[Server]:
    if request.param == "postgres" and not pg_ok:
        pytest.skip("PostgreSQL not reachable")
    with running(request.param, tmp_path_factory.mktemp(f"schema-{request.param}")) as srv:
        yield srv


def test_no_server_errors(server: Server) -> None:
    """Every operation, with generated valid and invalid requests (on random item ids and on
    a real item the token's person may act on), answers below 500."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {server.tokens['zhang']}"}
    strategies = []
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(mode))
            if "{item_id}" in operation.path:
                strategies.append(operation.as_strategy(
                    mode, path_parameters={"item_id": server.items["a1"]}))
    assert len(strategies) >= 8
    seen: list[str] = []

    @settings(max_examples=EXAMPLES * len(strategies), deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(*strategies))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, headers=headers, timeout=30)
        seen.append(f"{case.method} {case.operation.path}")
        assert response.status_code < 500, (case.as_curl_command(), response.text)

    check()
    assert len(set(seen)) >= 4
