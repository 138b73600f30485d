"""The progress bar: drawn from the engine's reports when interactive (here forced), not at
all with progress=False; the results do not depend on it."""
import numpy as np

import sharedvis._progress as progress
from conftest import fixture


def test_bar_draws_and_progress_false_is_silent(r18, x, capsys, monkeypatch):
    monkeypatch.setattr(progress, "_interactive", lambda: True)
    monkeypatch.setattr(progress.Bar, "__init__", _plain_init)
    G = fixture("vjp_G.npy")
    a = r18.vjp(x, G, "layer3", max_batch=1)
    err = capsys.readouterr().err
    assert "vjp" in err and "3/3" in err, err
    b = r18.vjp(x, G, "layer3", max_batch=1, progress=False)
    assert capsys.readouterr().err == ""
    assert np.array_equal(a, b)


_orig_init = progress.Bar.__init__


def _plain_init(self, enabled):
    """The Bar without tqdm, whether or not tqdm is installed."""
    _orig_init(self, enabled)
    self.tqdm = None
