"""Property-based fuzzing of every operation in the OpenAPI schema: no input yields a 500.

Bounded (a few positive and negative examples per operation, derandomised) so it takes
seconds. Requests carry an owner token, or the admin token on admin-only routes, so they
get past authentication and exercise validation and handlers."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from server_testkit import Server


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_no_input_causes_a_server_error(server: Server, model_id: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", server.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @settings(
                max_examples=6,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                path = operation.path
                admin_only = path.startswith("/v1/tokens") or path.endswith("/policy")
                headers = dict(server.admin if admin_only else server.owner)
                # Through the already-started TestClient (lifespan ran once), not case.call().
                kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
                response = server.client.request(**kwargs)
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                    )
                elif response.status_code >= 400:
                    assert response.headers["content-type"].startswith(
                        "application/problem+json"
                    ), (case.method, case.formatted_path, response.headers["content-type"])

            try:
                run()
            except Unsatisfiable:  # e.g. no way to make /healthz's empty input invalid
                continue
    assert failures == []
    assert len(statuses) >= 80
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
