"""GET /metrics (api/metrics.py): Prometheus's text format, for an admin key only; routes by
template (what a caller asks for never becomes a label), the guard's refusals counted, the
collector's pauses and the loaded artifacts' versions; one count across --workers."""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.api_server import api_process, bearer, children, each_worker, wait_for


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


@pytest.mark.slow
def test_a_dead_workers_versions_leave_the_scrape(tmp_path, tiny_shop_workspace):
    import os
    import shutil
    import signal

    from recommend import cli
    from api.keys import add_key
    from tests.helpers import write_tiny_shop

    artifacts = tmp_path / "artifacts"
    shutil.copytree(tiny_shop_workspace[0], artifacts, symlinks=True)
    keys = tmp_path / "keys.toml"
    admin = add_key(keys, "ops", "admin", 0)
    with api_process("--workers", "2", "--keys-file", str(keys), "--artifacts", str(artifacts),
                     "--poll-seconds", "1") as (url, proc):
        assert wait_for(lambda: len(children(proc.pid)) >= 2, 60)

        def ask():
            with httpx.Client(timeout=60) as client:  # a connection of its own: either worker may take it
                assert client.get(url + "/v1/customers/similar", params={"id": "K1", "dataset": "tiny"},
                                  headers=bearer(admin)).status_code == 200

        def version(status: dict) -> tuple | None:
            found = status["loaded"].get("customers:tiny")
            return tuple(found["version"]) if found else None

        both = each_worker(url, admin, lambda seen: len(seen) == 2 and all(map(version, seen.values())), ask)
        old = {version(status) for status in both.values()}
        assert len(old) == 1
        dead, survivor = sorted(both)
        os.kill(dead, signal.SIGKILL)  # uvicorn starts another worker in its place
        assert wait_for(lambda: dead not in children(proc.pid) and len(children(proc.pid)) == 2, 60)

        orders, _ = write_tiny_shop(tmp_path / "shop")
        assert cli.main(["build", "--orders", str(orders), "--name", "tiny", "--artifacts", str(artifacts)]) == 0
        each_worker(url, admin, lambda seen: survivor in seen and version(seen[survivor]) not in old, ask)

        def loaded(at_version: tuple) -> float:
            text = httpx.get(url + "/metrics", headers=bearer(admin), timeout=60).text
            return _value(text, "vitrine_artifact_loaded", kind="customers", dataset="tiny",
                          version=" ".join(str(part) for part in at_version))

        new = version(each_worker(url, admin, lambda seen: survivor in seen)[survivor])
        assert loaded(new) == 1
        assert loaded(old.pop()) == 0  # no live worker serves it: the dead one's gauge no longer counts
