"""The GIL is released while the engine computes: a second Python thread makes progress
between two of the engine's progress reports of one call. sys.setswitchinterval(1000) keeps
the interpreter from switching threads on its own, so the main thread runs between two
reports only when the computing thread has let go of the GIL."""
import sys
import threading
import time

import numpy as np

from conftest import fixture


def test_second_thread_runs_during_a_call(r18, x):
    G = np.ascontiguousarray(np.repeat(fixture("vjp_G.npy"), 4, axis=0))  # K = 12
    counter = [0]
    seen = []  # the counter at each progress report
    done = threading.Event()

    def report(label, d, total):
        seen.append(counter[0])

    def work():
        try:
            r18._m.vjp(x, G, "layer3", "avg", 1, report)  # 12 backward passes, a report after each
        finally:
            done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        t = threading.Thread(target=work)
        t.start()
        while not done.is_set():
            counter[0] += 1
            time.sleep(0)  # lets the computing thread take the GIL for its reports
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert len(seen) >= 12
    # Without the release the counter could not move between two reports at all; with it, it
    # moves whenever the OS ran the main thread meanwhile (any one interval proves the release).
    steps = [b - a for a, b in zip(seen, seen[1:])]
    assert any(s > 0 for s in steps), seen


def test_two_models_in_two_threads(r18, r18_path, x):
    import sharedvis as sv
    other = sv.load_model(r18_path, device="cpu")
    G = fixture("vjp_G.npy")
    want = r18.vjp(x, G, "layer3", progress=False)
    out = {}
    ts = [threading.Thread(target=lambda m=m, k=k: out.__setitem__(k, m.vjp(x, G, "layer3", progress=False)))
          for k, m in (("a", r18), ("b", other), ("c", r18))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for k in "abc":
        assert np.array_equal(out[k], want)
