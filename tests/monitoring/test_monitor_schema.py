"""The monitor's routes against their own OpenAPI description: whatever schemathesis sends, never a
5xx, and every answer as documented (the pattern of tests/serving/test_serve_schema.py)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from practica.bundle import load_bundle
from practica.serving import ServeSettings, create_app


@pytest.mark.slow
def test_monitor_routes_answer_as_documented(cnn_bundle, tmp_path):
    app = create_app(load_bundle(cnn_bundle, threads=1), ServeSettings(monitor_db=str(tmp_path / "log.db")))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith("/v1/monitor")]
    assert {f"{op.method.upper()} {op.path}" for op in operations} == {"GET /v1/monitor", "GET /v1/monitor/rows"}
    for operation in operations:
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=cases)
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()
