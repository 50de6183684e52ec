"""The heap settled after a load (common/heap.py): what was loaded is frozen out of the cyclic
collector's walks, a replaced version's cycles are still collected, and VITRINE_GC_FREEZE=0
switches it off. Each case runs in a fresh interpreter: freezing is process-wide."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT

CASE = r"""
import gc, json, sys, weakref
from common import heap

class Node:
    pass

def cyclic():
    a, b = Node(), Node()
    a.other, b.other = b, a  # only the cyclic collector frees these
    return a

loaded = cyclic()
gone = weakref.ref(loaded)
before = gc.get_freeze_count()
settled = heap.settle()
frozen = gc.get_freeze_count()
del loaded
gc.collect()
alive_after_collect = gone() is not None  # frozen: an ordinary collection leaves it
heap.settle(replaced=True)
print(json.dumps({"settled": settled, "frozen": frozen - before, "alive_after_collect": alive_after_collect,
                  "alive_after_replace": gone() is not None, "frozen_after_replace": gc.get_freeze_count()}))
"""


def _run(env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", CASE], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_load_is_frozen_and_a_replaced_version_is_still_collected():
    seen = _run({"VITRINE_GC_FREEZE": "1"})
    assert seen["settled"] is True and seen["frozen"] > 1000  # the interpreter's objects and the loaded one
    assert seen["alive_after_collect"] is True  # frozen objects are not walked (what keeps p99 low)
    assert seen["alive_after_replace"] is False  # the swap's unfreeze + collect frees the old version's cycles
    assert seen["frozen_after_replace"] > 1000  # and what is alive is frozen again


def test_vitrine_gc_freeze_0_leaves_the_collector_as_python_has_it():
    seen = _run({"VITRINE_GC_FREEZE": "0"})
    assert seen["settled"] is False and seen["frozen"] == 0
    assert seen["alive_after_collect"] is False  # an ordinary collection frees the cycle


DEADLOCK = r"""
import gc, os, tempfile
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
from api import metrics
metrics.start()
gc.set_threshold(50)  # collections often, some inside the metrics library's lock
for i in range(400):
    metrics.REQUESTS.labels(f"/r{i % 200}", "GET", str(200 + i % 5)).inc()
    metrics.LATENCY.labels(f"/r{i % 200}").observe(0.001)
    metrics._publish_pauses()
print("done", sum(metrics.heap.pauses.count.values()) > 0)
"""


def test_collector_pauses_reach_metrics_without_deadlocking_its_lock():
    """With workers, prometheus-client guards its files with one lock; a collection starting while
    that lock is held must not take it again from the gc callback (it deadlocked the worker)."""
    done = subprocess.run([sys.executable, "-c", DEADLOCK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["done", "True"], done.stderr
