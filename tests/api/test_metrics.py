"""GET /metrics (api/metrics.py): Prometheus's text format, for an admin key only; routes by
template (what a caller asks for never becomes a label), the guard's refusals counted, the
collector's pauses and the loaded artifacts' versions; one count across --workers."""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.api_server import api_process, bearer, children, wait_for


def _value(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_metrics_are_an_admins_and_count_routes_by_template(api):
    assert api.get("/metrics", key=None).status_code == 401
    assert api.get("/metrics", key="reader").status_code == 403  # outside /v1/: the admin's
    before = api.get("/metrics", key="admin").text
    asked = f"no-such-item-{uuid.uuid4().hex}"
    assert api.get("/v1/next-to", params={"item": "pasta"}).status_code == 200
    assert api.get("/v1/similar-products", params={"id": asked}).status_code == 404
    assert api.get(f"/v1/{asked}").status_code == 404  # no such route
    assert api.get("/v1/next-to", key=None, params={"item": "pasta"}).status_code == 401
    answer = api.get("/metrics", key="admin")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert asked not in text  # neither an id nor an unknown path is a label
    grew = {(route, status): _value(text, "vitrine_requests_total", route=route, status=status)
            - _value(before, "vitrine_requests_total", route=route, status=status)
            for route, status in (("/v1/next-to", "200"), ("/v1/similar-products", "404"), ("unmatched", "404"),
                                  ("unmatched", "401"))}
    assert grew == {("/v1/next-to", "200"): 1, ("/v1/similar-products", "404"): 1, ("unmatched", "404"): 1,
                    ("unmatched", "401"): 1}
    assert _value(text, "vitrine_request_seconds_count", route="/v1/next-to") >= 1
    assert 'vitrine_gc_pause_seconds_bucket{generation="0"' in text
    assert _value(text, "vitrine_artifact_loaded", kind="rules", dataset="groceries") == 1


@pytest.mark.slow
def test_two_workers_are_counted_as_one_api(tmp_path):
    from api.keys import add_key

    keys = tmp_path / "keys.toml"
    reader, admin = add_key(keys, "reader", "read", 0), add_key(keys, "ops", "admin", 0)
    with api_process("--workers", "2", "--keys-file", str(keys)) as (url, proc):
        assert wait_for(lambda: len(children(proc.pid)) >= 2, 60)  # both workers started

        def ask(_):
            with httpx.Client(timeout=120) as client:  # its own connection: either worker may take it
                return client.get(url + "/v1/next-to", params={"item": "pasta"}, headers=bearer(reader)).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(ask, range(40))) == {200}

        def counted() -> float:
            text = httpx.get(url + "/metrics", headers=bearer(admin), timeout=60).text
            return _value(text, "vitrine_requests_total", route="/v1/next-to", status="200")

        # every scrape, whichever worker answers it, adds up both workers' files
        assert wait_for(lambda: counted() == 40, 20) and {counted() for _ in range(6)} == {40}
