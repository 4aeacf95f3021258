"""Shared timing for the benchmarks: wall and CPU time of a piece of work, and its ratio to a baseline.

A figure in seconds or items per second says little on a shared, loaded machine: the same code
runs twice as long when another process holds the other core. Every benchmark therefore measures
a baseline in the same run (the naive path, a raw ``COPY``, ``json.dumps``, an empty page ...) and
prints its figure as a ratio against it, together with the CPU time the work took (which load
changes far less than wall time), and the load average at the time.

    from bench.timing import Measure, measure, ratio_line, load_line

    work = measure(lambda: run(rows), repeats=5)           # best of 5, wall and CPU
    base = measure(lambda: baseline(rows), repeats=5)
    print(ratio_line("upsert", work, base, "raw COPY", items=len(rows), unit="rows"))
    print(load_line())

A benchmark that starts Konsens processes calls :func:`compile_sources` first (``--no-compile`` to
skip it), so its figures do not include compiling our modules in every process.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measure:
    """Wall and CPU seconds of one or more runs of the same work (``best`` = the fastest run by CPU)."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.walls.append(wall)
        self.cpus.append(cpu)

    @property
    def wall(self) -> float:
        """Best (smallest) wall time in seconds."""
        return min(self.walls)

    @property
    def cpu(self) -> float:
        """Best (smallest) CPU time in seconds."""
        return min(self.cpus)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpus)

    @property
    def runs(self) -> int:
        return len(self.walls)


def cpu_seconds(children: bool = False) -> float:
    """CPU time (user + system) of this process, plus its waited-for children when ``children``."""
    total = time.process_time()
    if children:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += usage.ru_utime + usage.ru_stime
    return total


@contextmanager
def timed(into: Measure, *, extra_cpu: Callable[[], float] | None = None) -> Iterator[None]:
    """Time the block's wall and CPU time into ``into``; ``extra_cpu`` adds another process's CPU (a server)."""
    extra_before = extra_cpu() if extra_cpu else 0.0
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    yield
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    if extra_cpu:
        cpu += extra_cpu() - extra_before
    into.add(wall, cpu)


def measure(work: Callable[[], object], *, repeats: int = 1, extra_cpu: Callable[[], float] | None = None) -> Measure:
    """Run ``work`` ``repeats`` times and return the wall and CPU times of each run."""
    result = Measure()
    for _ in range(repeats):
        with timed(result, extra_cpu=extra_cpu):
            work()
    return result


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of another process on this machine, from ``/proc/PID/stat`` (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(work: float, baseline: float) -> float:
    """``work / baseline`` (how many times the baseline's time the work takes)."""
    return work / baseline if baseline > 0 else float("inf")


def ratio_line(
    label: str,
    work: Measure,
    baseline: Measure,
    baseline_label: str,
    *,
    items: int | None = None,
    unit: str = "items",
    by: str = "cpu",
) -> str:
    """One line: the work's wall and CPU time, its rate per CPU second, and its ratio to the baseline."""
    work_seconds, base_seconds = (work.cpu, baseline.cpu) if by == "cpu" else (work.wall, baseline.wall)
    rate = f", {items / work.cpu:,.0f} {unit} per CPU-s" if items and work.cpu > 0 else ""
    return (
        f"{label}: wall {work.wall:.3f} s, CPU {work.cpu:.3f} s{rate}; "
        f"{ratio(work_seconds, base_seconds):.2f}x the {by} time of {baseline_label} "
        f"(wall {baseline.wall:.3f} s, CPU {baseline.cpu:.3f} s)"
    )


def load_line() -> str:
    """The machine's load average now, for the record next to every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def compile_sources(root: Path = ROOT) -> float:
    """Byte-compile the project's packages (as ``pip install`` does); return the seconds it took.

    A source checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (this machine, the Dockerfile's build
    stage) never writes ``.pyc`` files, so every process would compile every project module again at
    every start; an installed package has them from its installation.
    """
    import compileall

    began = time.perf_counter()
    for package in ("app", "core", "workers", "pages"):
        compileall.compile_dir(str(root / package), quiet=1, workers=1)
    return time.perf_counter() - began
