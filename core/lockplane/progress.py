"""How far a long step has got: what a progress bar, the notebook panel and `lockplane runs`
show for a backfill (rows) or a concurrent index build (blocks, then tuples, phase by phase)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class Progress:
    """Work done of an estimated total, and the rate since the step (re)started."""

    rows_done: int
    rows_total: int | None
    started: float = field(default_factory=time.monotonic)
    rows_at_start: int = 0
    unit: str = "rows"
    phase: str | None = None  # an index build's phase, as pg_stat_progress_create_index says

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.rows_done - self.rows_at_start) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.rows_total or self.rate <= 0:
            return None
        return max(0.0, (self.rows_total - self.rows_done) / self.rate)

    def text(self) -> str:
        total = f"/{self.rows_total:,}" if self.rows_total else ""
        eta = f", ETA {self.eta:.0f}s" if self.eta is not None else ""
        phase = f"{self.phase}: " if self.phase else ""
        return f"{phase}{self.rows_done:,}{total} {self.unit}, {self.rate:,.0f} {self.unit}/s{eta}"


# (step number, progress), after each backfill batch and each sample of an index build
OnProgress = Callable[[int, Progress], None]


SAMPLE_SECONDS = 0.5  # how often an index build's progress is read

_INDEX = """
SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
  FROM pg_stat_progress_create_index WHERE pid = %s
"""


class IndexWatch:
    """Samples `pg_stat_progress_create_index` for the session running a concurrent index build,
    from a connection of its own, every `interval` seconds: each sample goes to `on_progress`
    and, as the step's checkpoint, to the journal (`lockplane runs` shows the phase)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        pid: int,
        number: int,
        on_progress: OnProgress | None,
        record: Callable[[psycopg.Connection, dict[str, Any]], None] | None,
        interval: float | None = None,
    ) -> None:
        self._conn, self._pid, self._number = conn, pid, number
        self._on_progress, self._record = on_progress, record
        self._interval = SAMPLE_SECONDS if interval is None else interval
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="lockplane-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        phase_started: dict[str, float] = {}
        try:
            while not self._stop.wait(self._interval):
                row = self._conn.execute(_INDEX, [self._pid]).fetchone()
                if row is None:
                    continue
                phase, blocks_done, blocks_total, tuples_done, tuples_total = row
                if blocks_total:
                    done, total, unit = int(blocks_done), int(blocks_total), "blocks"
                else:
                    done, total, unit = int(tuples_done), int(tuples_total) or None, "tuples"
                started = phase_started.setdefault(phase, time.monotonic())
                sample = Progress(done, total, started=started, unit=unit, phase=phase)
                if self._record is not None:
                    self._record(self._conn, {"phase": phase, "done": done, "total": total})
                if self._on_progress is not None:
                    self._on_progress(self._number, sample)
        except psycopg.Error:
            return  # progress is a courtesy: a sampling failure must not touch the build

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
