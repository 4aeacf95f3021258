"""The footprint benchmark's process-tree sampling, on a fake /proc tree and on this process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.footprint import (
    TreeSample,
    cpu_percent_between,
    cpu_seconds,
    memory_bytes,
    process_tree,
    sample_tree,
)


def _process(
    proc: Path, pid: int, parent: int, name: str, utime: int, stime: int, pss_kb: int | None, rss_kb: int
) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    # Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    (folder / "stat").write_text(f"{pid} ({name}) S {parent} 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0\n")
    (folder / "status").write_text(f"Name:\t{name}\nVmRSS:\t{rss_kb} kB\n")
    if pss_kb is not None:
        (folder / "smaps_rollup").write_text(f"00400000-7fff [rollup]\nRss:\t{rss_kb} kB\nPss:\t{pss_kb} kB\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    _process(root, 100, 1, "konsens up", 100, 50, 20_000, 30_000)
    _process(root, 101, 100, "python worker", 300, 100, 50_000, 90_000)
    _process(root, 102, 101, "a (odd) name", 10, 0, None, 4_000)  # no smaps_rollup: RSS is used
    _process(root, 200, 1, "unrelated", 999, 999, 1_000, 1_000)
    (root / "self").mkdir()  # non-numeric entries are ignored
    return root


def test_the_tree_holds_the_root_and_its_descendants_only(proc: Path) -> None:
    assert process_tree(100, proc) == [100, 101, 102]


def test_cpu_seconds_are_user_plus_system_ticks(proc: Path) -> None:
    assert cpu_seconds(101, proc, ticks_per_second=100) == pytest.approx(4.0)
    assert cpu_seconds(102, proc, ticks_per_second=100) == pytest.approx(0.1)  # a name with spaces and parentheses
    assert cpu_seconds(999, proc, ticks_per_second=100) is None


def test_memory_is_pss_where_available_else_rss(proc: Path) -> None:
    assert memory_bytes(101, proc) == (50_000 * 1024, "pss")
    assert memory_bytes(102, proc) == (4_000 * 1024, "rss")


def test_a_tree_sample_sums_memory_and_cpu(proc: Path) -> None:
    sample = sample_tree(100, proc, ticks_per_second=100)
    assert set(sample.processes) == {100, 101, 102}
    assert sample.memory_bytes == (20_000 + 50_000 + 4_000) * 1024
    assert sample.cpu_seconds == pytest.approx(1.5 + 4.0 + 0.1)


def test_cpu_percent_counts_differences_and_whole_cpu_of_new_processes(proc: Path) -> None:
    first = sample_tree(100, proc, ticks_per_second=100)
    (proc / "101" / "stat").write_text("101 (python worker) S 100 1 1 0 -1 0 0 0 0 0 350 110 0 0 20 0 1 0\n")
    _process(proc, 103, 100, "new", 20, 10, 1_000, 1_000)
    last = sample_tree(100, proc, ticks_per_second=100)
    # 0.6 s more of pid 101, 0.3 s of the new pid 103, over 30 s of wall time: 3 % of one core.
    assert cpu_percent_between(first, last, wall_seconds=30.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="apart"):
        cpu_percent_between(first, TreeSample(first.at), wall_seconds=0)


def test_sampling_a_real_busy_child_sees_its_cpu() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    )
    try:
        first = sample_tree(os.getpid())
        assert child.pid in first.processes
        time.sleep(1.0)
        last = sample_tree(os.getpid())
    finally:
        child.wait()
    # The child spins: its CPU seconds grow (how much depends on the machine's load), and the
    # tree's CPU percentage is exactly the growth over the wall time between the samples.
    grown = last.processes[child.pid].cpu_seconds - first.processes[child.pid].cpu_seconds
    assert grown > 0
    expected = 100 * (last.cpu_seconds - first.cpu_seconds) / (last.at - first.at)
    assert cpu_percent_between(first, last) == pytest.approx(expected)
    assert last.memory_bytes > 0


def test_labels_name_workers_started_fresh_and_forked(tmp_path: Path) -> None:
    from bench.footprint import command_label

    python = "/venv/bin/python"

    def process(pid: int, words: list[str], comm: str) -> None:
        folder = tmp_path / str(pid)
        folder.mkdir()
        (folder / "cmdline").write_bytes(b"\0".join(word.encode() for word in words) + b"\0")
        (folder / "comm").write_text(comm + "\n")

    up = [python, "-m", "app.cli", "up", "--port", "8501"]
    process(10, up, "python")  # the supervisor
    process(11, up, "market")  # a worker forked from it: its command line, the worker's name
    process(12, [python, "-m", "app.cli", "worker", "news"], "python")  # `konsens up --no-fork`
    process(13, [python, "-m", "app.server", "--server.port", "8501"], "python")
    assert command_label(10, tmp_path) == "up"
    assert command_label(11, tmp_path) == "worker market"
    assert command_label(12, tmp_path) == "worker news"
    assert command_label(13, tmp_path) == "app.server"
    assert command_label(99, tmp_path) == "?"
