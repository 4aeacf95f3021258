"""Workers forked by `konsens up` (app/cli/_fork.py): own process, exit code, signals, a crash, threads.

Each case runs in a fresh interpreter (a pytest process is no place to fork from): the script
forks ``konsens ARGS`` with :func:`fork_command` and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from app.cli._fork import ForkedProcess, can_fork, os_thread_count

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, tmp_path: Path, timeout: float = 120) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_HOME": str(tmp_path / "home"),
        "KONSENS_DATABASE_URL": f"sqlite:///{tmp_path / 'fork.db'}",
        "KONSENS_DEMO_ON_EMPTY": "false",
        "KONSENS_METRICS_ENABLED": "false",
    }
    env.pop("KONSENS_METRICS_PORT", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_forked_command_runs_in_its_own_process_and_returns_its_exit_code(tmp_path: Path) -> None:
    seen = _run(
        """
        import json, os, signal
        from app.cli._fork import fork_command
        handler = lambda signum, frame: None
        signal.signal(signal.SIGTERM, handler)
        ok = fork_command(["--version"], dict(os.environ))
        bad = fork_command(["worker", "no-such-worker"], dict(os.environ))
        print(json.dumps({
            "parent": os.getpid(), "ok_pid": ok.pid, "ok": ok.wait(60), "bad": bad.wait(60),
            "handler_kept": signal.getsignal(signal.SIGTERM) is handler,
            "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        }))
        """,
        tmp_path,
    )
    assert seen["ok_pid"] != seen["parent"]
    assert seen["ok"] == 0
    assert seen["bad"] == 1  # `fail(...)`: unknown worker
    assert seen["handler_kept"] is True  # the parent's handlers and signal mask are as before the fork
    assert seen["mask"] == []


def test_a_forked_worker_has_its_name_environment_heartbeat_and_stops_on_sigterm(tmp_path: Path) -> None:
    seen = _run(
        """
        import json, os, sqlite3, time
        from app.cli._common import open_database
        from app.cli._fork import fork_command, preload
        database = open_database()  # as `konsens up` does: migrate, then fork
        preload()
        database.dispose()
        import socket, urllib.request
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        metrics = {"KONSENS_METRICS_ENABLED": "true", "KONSENS_METRICS_PORT": str(port),
                   "KONSENS_METRICS_ADDRESS": "127.0.0.1"}
        child = fork_command(["worker", "backup", "--interval", "3600"], {**os.environ, **metrics}, title="backup")
        path = os.environ["KONSENS_DATABASE_URL"].removeprefix("sqlite:///")
        status = None
        for _ in range(600):
            with sqlite3.connect(path) as connection:
                row = connection.execute("SELECT status FROM worker_heartbeats WHERE worker = 'backup'").fetchone()
            status = row[0] if row else None
            if status in ("IDLE", "idle"):
                break
            time.sleep(0.1)
        name = open(f"/proc/{child.pid}/comm").read().strip()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            served = answer.read().decode()
        alive = child.poll() is None
        child.terminate()
        code = child.wait(60)
        with sqlite3.connect(path) as connection:
            final = connection.execute("SELECT status FROM worker_heartbeats WHERE worker = 'backup'").fetchone()[0]
        print(json.dumps({"running": status, "name": name, "alive": alive, "code": code, "final": final,
                          "served": 'konsens_worker_running{worker="backup"} 1.0' in served}))
        """,
        tmp_path,
    )
    assert str(seen["running"]).lower() == "idle"  # it ran a pass and wrote its heartbeat
    assert seen["name"] == "backup"
    assert seen["alive"] is True
    assert seen["code"] == 0  # SIGTERM: the loop ends after its pass, as `konsens worker` does
    assert str(seen["final"]).lower() == "stopped"
    assert seen["served"] is True  # its own environment: /metrics on the port it was given


def test_a_crashed_forked_worker_reports_the_signal_that_killed_it(tmp_path: Path) -> None:
    seen = _run(
        """
        import json, os, signal, time
        from app.cli._fork import fork_command
        child = fork_command(["worker", "backup", "--interval", "3600"], dict(os.environ))
        time.sleep(0.5)
        os.kill(child.pid, signal.SIGKILL)
        code = child.wait(30)
        print(json.dumps({"code": code, "poll": child.poll()}))
        """,
        tmp_path,
    )
    assert seen["code"] == -9 and seen["poll"] == -9  # what `konsens up` sees and restarts, as for Popen


def test_up_restarts_a_forked_worker_that_died(tmp_path: Path) -> None:
    seen = _run(
        """
        import json, os, signal, sys, time
        from app.cli import up
        command = [sys.executable, "-m", "app.cli", "worker", "backup", "--interval", "3600"]
        item = up.ManagedProcess("worker backup", command, restart=True,
                                 fork_args=["worker", "backup", "--interval", "3600"], title="backup")
        pids, names, began = [], [], time.monotonic()

        def check(signum, frame):  # a timer, not a thread: `konsens up` must stay single-threaded
            process = item.process
            if process is not None and process.poll() is None and (not pids or process.pid != pids[-1]):
                pids.append(process.pid)
                names.append(type(process).__name__)
                if len(pids) == 1:
                    os.kill(process.pid, signal.SIGKILL)
            if len(pids) == 2 or time.monotonic() - began > 60:
                signal.setitimer(signal.ITIMER_REAL, 0)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGALRM, check)
        signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)
        code = up.supervise([item])  # the first restart comes after 1 s
        print(json.dumps({"pids": pids, "names": names, "code": code, "alive": item.alive()}))
        """,
        tmp_path,
    )
    pids = seen["pids"]
    assert isinstance(pids, list) and len(pids) == 2 and pids[0] != pids[1]
    assert seen["names"] == ["ForkedProcess", "ForkedProcess"]  # the restart is forked too
    assert seen["code"] == 0 and seen["alive"] is False  # stopped with the supervisor


def test_no_fork_while_another_thread_runs() -> None:
    # native threads count too (a BLAS pool, a driver's thread left by an earlier test in this process)
    assert can_fork() is (threading.active_count() == 1 and os_thread_count() in (None, 1))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert can_fork() is False
    finally:
        stop.set()
        thread.join()


def test_a_forked_process_that_is_not_our_child_is_reported_gone() -> None:
    process = ForkedProcess(os.getpid())  # not a child: waitpid fails, its code is lost
    assert process.poll() == 255
    process.terminate()  # nothing is signalled once it is known to be gone


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (3, 3), ("boom", 1)])
def test_exit_codes_as_the_interpreter_gives_them(value: object, expected: int) -> None:
    from app.cli._fork import _exit_code

    assert _exit_code(value) == expected


def test_a_stop_signal_that_also_ends_the_workers_is_no_crash_to_restart(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C reaches the whole process group: a worker that exits on it is not "restarting in 1 s"."""
    from app.cli import up

    class EndsWithTheSignal(up.ManagedProcess):
        def alive(self) -> bool:  # the worker and the supervisor get the signal together
            signal.raise_signal(signal.SIGINT)
            return False

    item = EndsWithTheSignal(name="worker sync", command=[sys.executable, "-c", "pass"], restart=True)
    item.process = subprocess.Popen([sys.executable, "-c", "pass"])
    item.process.wait()
    assert up.supervise([item]) == 0
    assert "restarting" not in capsys.readouterr().err
    assert item.restarts == 0
