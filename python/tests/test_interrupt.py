"""Ctrl-C during a long call: SIGINT sent to a child Python process while the engine computes
(after its first progress report) ends the call with KeyboardInterrupt, the process exits
cleanly, and an interrupted explain leaves no output folder and no temporary files."""
import os
import signal
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The child restores Python's SIGINT handler first: a process started from a background job
# (as CI may start the tests) inherits SIGINT ignored, and Python then installs no handler,
# so Ctrl-C could not reach it whatever the module does.
CHILD = textwrap.dedent("""
    import os, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import sharedvis as sv
    from sharedvis import _core
    what, model, out = sys.argv[1], sys.argv[2], sys.argv[3]
    announced = []
    def report(label, done, total):
        if not announced:
            announced.append(1)
            print("computing", flush=True)
    try:
        if what == "vjp":
            m = sv.load_model(model, device="cpu")
            x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
            G = np.random.default_rng(1).standard_normal((4000, 2, 256)).astype(np.float32)
            m._m.vjp(x, G, "layer3", "avg", 1, report)
        else:
            _core.explain(dict(dataset="fashion-mnist", synthetic=["Bag", "Sandal"], model=sv.bundled_model_path(),
                               max_batch=1, feature_batch=1, device="cpu", out=out), report)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
""")


def run_and_interrupt(what, model, out):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-c", CHILD, what, model, out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    first = p.stdout.readline()
    assert first == "computing\n", first + p.stderr.read()
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert rest == "interrupted\n", rest + err
    return err


def test_ctrl_c_interrupts_vjp(r18_path, tmp_path):
    run_and_interrupt("vjp", r18_path, str(tmp_path / "unused"))


def test_ctrl_c_interrupts_explain_and_leaves_nothing(tmp_path):
    out = tmp_path / "gallery"
    run_and_interrupt("explain", "", str(out))
    assert not out.exists()
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)
