"""The resident set of this process, and its peak while a block runs (the benchmarks'
memory figures: `peak_rss_mb`, `doctor_peak_rss_mb`)."""

from __future__ import annotations

import threading


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - Linux only


class PeakRss:
    """Samples the resident set every few milliseconds while a block runs."""

    def __init__(self, every_s: float = 0.005):
        self.every_s, self.peak, self.baseline = every_s, 0.0, 0.0
        self._stop = threading.Event()

    def __enter__(self):
        self.baseline = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.baseline
