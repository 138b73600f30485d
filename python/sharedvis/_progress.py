"""A progress bar for long calls: tqdm's (tqdm.auto: a widget in a notebook) when tqdm is
installed, else one line on stderr. Shown only on a terminal or in a notebook; progress=False
turns it off. The engine reports progress between batches; the same reports check Ctrl-C."""
from __future__ import annotations

import sys
import time


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Bar:
    """callback(label, done, total) for the engine; one bar per label in turn."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled) and _interactive()
        self.label = None
        self.bar = None
        self.last = 0.0
        try:
            from tqdm.auto import tqdm  # optional
        except ImportError:
            tqdm = None
        self.tqdm = tqdm

    def callback(self):
        return self.update if self.enabled else None

    def update(self, label: str, done: int, total: int) -> None:
        if label != self.label:
            self.close()
            self.label = label
            if self.tqdm is not None:
                self.bar = self.tqdm(total=total, desc=label)
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        sys.stderr.write(f"\r{label:<12} {done}/{total}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.label is not None and self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
        self.label = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
