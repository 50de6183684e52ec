"""A workspace build passes the embed job's own progress on: its Embedding bar's count, and the
int8 calibration and check of `--precision auto`, never another bar's numbers."""
from __future__ import annotations

import subprocess
import sys

from recommend.workspace.model import _follow

JOB = r"""
import sys, time
for text in ["Hashing:  25%|##  | 10/40 [00:00<00:00]\r",
             "Calibrating the int8 model on 8 catalogue pictures (once; then cached)...\n",
             "Statistics collection ━━━━ 300/300 • 0:00:01\n",
             "auto precision: checking int8 against fp32 on 10 other pictures...\n",
             "Embedding:  50%|#####  | 20/40 [00:01<00:01, 20.0img/s]\r"]:
    sys.stderr.write(text)
    sys.stderr.flush()
    time.sleep(0.3)
"""


def test_the_stages_and_the_embedded_count_are_passed_on_in_order():
    process = subprocess.Popen([sys.executable, "-c", JOB], stderr=subprocess.PIPE)
    heard: list[tuple[str, float]] = []
    tail = _follow(process, 40, lambda what, share: heard.append((what, share)))
    assert process.wait() == 0 and "Embedding:" in tail
    said = [what for i, (what, _) in enumerate(heard) if i == 0 or heard[i - 1][0] != what]
    assert said == ["Calibrating the int8 model on some of the pictures",
                    "Checking the int8 model against fp32 on some of the pictures",
                    "Embedding product pictures: 20 / 40"]
    assert heard[-1][1] == 0.88 + 0.08 * 20 / 40 and all(share <= 0.96 for _, share in heard)


def test_an_update_says_how_many_pictures_are_new_and_its_share_follows_them():
    process = subprocess.Popen([sys.executable, "-c", JOB], stderr=subprocess.PIPE)
    heard: list[tuple[str, float]] = []
    _follow(process, 100, lambda what, share: heard.append((what, share)))  # 60 of 100 reused
    assert process.wait() == 0
    assert heard[-1] == ("Embedding product pictures: 20 / 40 (the other 60 are reused)", 0.88 + 0.08 * 20 / 40)
