"""Footprint of ``konsens up`` on demo data: start-up, CLI speed, paper fill delay, idle CPU and memory.

    PYTHONPATH=$PWD python bench/footprint.py [--warmup 120] [--duration 300] [--interval 5]

Starts ``konsens up`` in a fresh ``KONSENS_HOME`` (SQLite, demo data seeded on the empty
database) on a free port and prints:

- seconds from the start to a healthy dashboard (``/_stcore/health`` answers ``ok``);
- ``konsens --help`` and ``konsens order list`` wall times (best and median of 5 runs);
- the delay from ``konsens order place BTC/EUR buy --eur 100`` returning to the order being filled;
- ``--warmup`` seconds after the workers started, the whole process tree sampled every ``--interval`` seconds for
  ``--duration`` seconds: CPU of the tree in % of one core (CPU seconds used / wall seconds) and
  memory (sum of PSS from ``/proc/PID/smaps_rollup``; RSS where PSS is unavailable), mean and max;
- the machine's load average at the start and the end (the figures depend on it).

Targets (issue "Live and lean"): idle CPU ≤ 3 % of one core, memory ≤ 1.2 GB, healthy dashboard
≤ 15 s, ``--help`` ≤ 0.5 s, ``order list`` ≤ 1 s, paper market order filled ≤ 2 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.timing import compile_sources  # noqa: E402

PROC = Path("/proc")


# ----------------------------------------------------------------- process-tree sampling


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    name: str
    cpu_seconds: float
    memory_bytes: int
    memory_kind: str  # "pss" or "rss"
    label: str = ""  # command_label, read while the process runs


@dataclass(frozen=True)
class TreeSample:
    at: float  # time.monotonic()
    processes: dict[int, ProcessSample] = field(default_factory=dict)

    @property
    def memory_bytes(self) -> int:
        return sum(process.memory_bytes for process in self.processes.values())

    @property
    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds for process in self.processes.values())


def _stat_fields(proc: Path, pid: int) -> list[str] | None:
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    head, _, rest = text.rpartition(")")
    name = head.partition("(")[2]
    return [str(pid), name, *rest.split()]


def children_map(proc: Path = PROC) -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` of every process in ``proc``."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(proc, int(entry.name))
        if fields is None:
            continue
        children.setdefault(int(fields[3]), []).append(int(entry.name))
    return children


def process_tree(root: int, proc: Path = PROC) -> list[int]:
    """The pid ``root`` and all its descendants (that still exist), root first."""
    children = children_map(proc)
    tree, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        if not (proc / str(pid)).exists():
            continue
        tree.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return tree


def cpu_seconds(pid: int, proc: Path = PROC, ticks_per_second: float | None = None) -> float | None:
    """User + system CPU seconds of a process (``/proc/PID/stat`` fields 14 and 15)."""
    fields = _stat_fields(proc, pid)
    if fields is None:
        return None
    ticks = ticks_per_second or float(os.sysconf("SC_CLK_TCK"))
    return (int(fields[13]) + int(fields[14])) / ticks


def memory_bytes(pid: int, proc: Path = PROC) -> tuple[int, str] | None:
    """PSS of a process from ``smaps_rollup`` (shared pages split among their users), else its RSS."""
    try:
        for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024, "pss"
    except OSError:
        pass
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024, "rss"
    except OSError:
        return None
    return None


def command_label(pid: int, proc: Path = PROC) -> str:
    """A short label of a process from its command line (e.g. ``worker market``, ``app.server``)."""
    try:
        words = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = [word.decode(errors="replace") for word in words if word]
    if "up" in text and text:
        # A worker forked by `konsens up` keeps its command line; its process name is the worker's.
        try:
            name = (proc / str(pid) / "comm").read_text().strip()
        except OSError:
            name = ""
        if name and name != Path(text[0]).name[:15]:
            return f"worker {name}"
    if "worker" in text:
        return " ".join(text[text.index("worker") : text.index("worker") + 2])
    for word in ("app.server", "up"):
        if word in text:
            return word
    return " ".join(text[:3])[:40]


def sample_tree(root: int, proc: Path = PROC, ticks_per_second: float | None = None) -> TreeSample:
    """CPU seconds and memory of every process of the tree under ``root``."""
    processes: dict[int, ProcessSample] = {}
    for pid in process_tree(root, proc):
        fields = _stat_fields(proc, pid)
        cpu = cpu_seconds(pid, proc, ticks_per_second)
        memory = memory_bytes(pid, proc)
        if fields is None or cpu is None or memory is None:
            continue  # ended between listing and reading
        processes[pid] = ProcessSample(pid, fields[1], cpu, memory[0], memory[1], command_label(pid, proc))
    return TreeSample(time.monotonic(), processes)


def cpu_percent_between(first: TreeSample, last: TreeSample, wall_seconds: float | None = None) -> float:
    """CPU used by the tree between two samples, in % of one core.

    A process present in both counts its difference; one started in between counts all its CPU;
    one that ended in between is lost (its last seconds are not visible any more).
    """
    wall = wall_seconds if wall_seconds is not None else last.at - first.at
    if wall <= 0:
        raise ValueError("the samples must be apart in time")
    used = 0.0
    for pid, process in last.processes.items():
        before = first.processes.get(pid)
        used += process.cpu_seconds - (before.cpu_seconds if before is not None else 0.0)
    return 100.0 * used / wall


# ----------------------------------------------------------------- the benchmark


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
            return answer.read().strip() == b"ok"
    except OSError:
        return False


def _timed(command: list[str], env: dict[str, str], runs: int = 5) -> tuple[float, float, float]:
    """Best and median wall seconds of ``runs`` runs, and the mean CPU seconds (user + system) of one run."""
    times = []
    cpu_before = os.times()
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    cpu_after = os.times()
    cpu = (cpu_after.children_user - cpu_before.children_user) + (
        cpu_after.children_system - cpu_before.children_system
    )
    return min(times), statistics.median(times), cpu / runs


def _order_status(database_path: Path, client_id: str) -> str:
    """The order's status read straight from the SQLite file (a CLI call per check would take ~1 s itself)."""
    import sqlite3

    with sqlite3.connect(database_path, timeout=30) as connection:
        row = connection.execute("SELECT status FROM orders WHERE client_order_id = ?", (client_id,)).fetchone()
    return str(row[0]).lower() if row else "unknown"


def _executor_running(database_path: Path) -> bool:
    """True once the executor worker has written its heartbeat (the demo seed is done, the workers run)."""
    import sqlite3

    try:
        with sqlite3.connect(database_path, timeout=30) as connection:
            row = connection.execute("SELECT passes FROM worker_heartbeats WHERE worker = 'executor'").fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds after the workers started before sampling")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of sampling")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile the sources first (see compile_sources)"
    )
    args = parser.parse_args()
    compiled = None if args.no_compile else compile_sources()
    home = tempfile.mkdtemp(prefix="konsens-footprint-")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_HOME": home,
        "KONSENS_LOG_LEVEL": "WARNING",
    }
    env.pop("KONSENS_DATABASE_URL", None)
    konsens = [sys.executable, "-m", "app.cli"]
    load_start = os.getloadavg()
    log = (Path(home) / "up.log").open("wb")
    began = time.monotonic()
    up = subprocess.Popen(
        [*konsens, "up", "--port", str(port), "--address", "127.0.0.1"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        while not _healthy(port):
            if up.poll() is not None:
                print(f"konsens up exited with {up.returncode}; log in {home}/up.log")
                return 1
            if time.monotonic() - began > 300:
                print("no healthy dashboard within 300 s")
                return 1
            time.sleep(0.1)
        healthy_after = time.monotonic() - began
        # The baseline, in the same run: a bare interpreter, and one that imports what every database
        # command needs at least (SQLAlchemy's ORM, Typer, pydantic-settings).
        bare_best, _bare_median, bare_cpu = _timed([sys.executable, "-c", "pass"], env)
        floor_best, _floor_median, floor_cpu = _timed(
            [sys.executable, "-c", "import sqlalchemy.orm, typer, pydantic_settings"], env
        )
        help_best, help_median, help_cpu = _timed([*konsens, "--help"], env)
        list_best, list_median, list_cpu = _timed([*konsens, "order", "list"], env)
        # `konsens up` starts the workers once the demo data is seeded (the dashboard answers
        # before that): the paper fill is measured against a running executor.
        while not _executor_running(Path(home) / "konsens.db"):
            if time.monotonic() - began > 600:
                print("the executor did not start within 600 s")
                return 1
            time.sleep(0.2)
        workers_after = time.monotonic() - began
        placed = subprocess.run(
            [*konsens, "order", "place", "BTC/EUR", "buy", "--eur", "100"], cwd=ROOT, env=env, capture_output=True
        )
        placed_at = time.monotonic()
        words = placed.stdout.decode().split()
        client_id = next((word for word in words if len(word) >= 8 and word.count("-") == 4), "")
        fill_delay: float | None = None
        while client_id and time.monotonic() - placed_at < 60:
            if _order_status(Path(home) / "konsens.db", client_id) == "filled":
                fill_delay = time.monotonic() - placed_at
                break
            time.sleep(0.05)
        # Idle means the workers' start-up is over: the warm-up counts from when they run (on a loaded
        # machine the demo seed alone can take minutes, and sampling from the start would measure it).
        wait = args.warmup - (time.monotonic() - began - workers_after)
        if wait > 0:
            time.sleep(wait)
        samples = [sample_tree(up.pid)]
        while samples[-1].at - samples[0].at < args.duration:
            time.sleep(args.interval)
            samples.append(sample_tree(up.pid))
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
    load_end = os.getloadavg()
    cpu = cpu_percent_between(samples[0], samples[-1])
    used = samples[-1].cpu_seconds - samples[0].cpu_seconds
    memory = [sample.memory_bytes for sample in samples]
    kinds = {process.memory_kind for sample in samples for process in sample.processes.values()}
    last = samples[-1]
    first = samples[0]
    print(
        f"load average:        start {load_start[0]:.2f} {load_start[1]:.2f}, end {load_end[0]:.2f} {load_end[1]:.2f}"
    )
    print(f"healthy dashboard:   {healthy_after:.1f} s after start (target 15 s)")
    print(f"executor running:    {workers_after:.1f} s after start (after the demo seed; no target)")
    print(
        "sources:             "
        + (f"byte-compiled first ({compiled:.1f} s)" if compiled is not None else "not compiled (--no-compile)")
    )
    print(
        f"baseline:            `python -c pass` best {bare_best:.2f} s (CPU {bare_cpu:.2f} s); "
        f"import sqlalchemy.orm+typer+pydantic_settings best {floor_best:.2f} s (CPU {floor_cpu:.2f} s)"
    )
    print(
        f"konsens --help:      best {help_best:.2f} s, median {help_median:.2f} s, CPU {help_cpu:.2f} s, "
        f"{help_best / max(bare_best, 0.001):.1f}x the bare interpreter (target 0.5 s)"
    )
    print(
        f"konsens order list:  best {list_best:.2f} s, median {list_median:.2f} s, CPU {list_cpu:.2f} s, "
        f"{list_best / max(floor_best, 0.001):.1f}x the import floor (target 1 s)"
    )
    filled = f"{fill_delay:.2f} s" if fill_delay is not None else "NOT FILLED within 60 s"
    print(f"paper market order:  filled {filled} after `order place` returned (target 2 s)")
    print(f"processes:           {len(last.processes)}")
    window = last.at - first.at
    for process in sorted(last.processes.values(), key=lambda item: -item.memory_bytes):
        before = first.processes.get(process.pid)
        share = 100 * (process.cpu_seconds - (before.cpu_seconds if before else 0.0)) / window
        print(
            f"  pid {process.pid:>7} {process.label or process.name:<18} {process.memory_bytes / 2**20:8.1f} MiB "
            f"{process.memory_kind}  CPU {share:5.2f} %"
        )
    print(
        f"idle CPU of the tree: {cpu:.2f} % of one core ({used:.1f} CPU s in "
        f"{samples[-1].at - samples[0].at:.0f} s; target 3 %)"
    )
    print(
        f"memory of the tree:  mean {statistics.mean(memory) / 1e9:.3f} GB, max {max(memory) / 1e9:.3f} GB "
        f"({'+'.join(sorted(kinds))}; target 1.2 GB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
