"""Browser benchmark: Backtest and Risk pages from click to idle in headless Chromium, at 1,000,000 candles.

    PYTHONPATH=$PWD python bench/page_browser.py [--db /tmp/konsens-bench-pages.db] [--rebuild]
        [--pages backtest,risk] [--repeats 3] [--rest 0]

Uses the database of ``bench/page_render.py`` (demo seed + 1,000,000 candles + 10,000 ledger
rows; built once and reused). Starts the dashboard (``python -m app.server``) on it, logs in as
demo/demo in headless Chromium (Playwright, ``/usr/bin/chromium``) and opens each page by
clicking its link in the sidebar menu, as a user does. A page counts as idle when

- Streamlit shows no running indicator (``stStatusWidget``) and the app's script state is
  ``notRunning`` (a cold script run can send nothing for longer than ``QUIET_MS``),
- no websocket message arrived for ``QUIET_MS`` and the DOM did not change for ``QUIET_MS``;

its time is from the click to the last websocket message or DOM change before that quiet
period (the quiet period itself is not counted). The first click comes as soon as the first page
is idle after login (``--rest S``: S seconds later, as a user who looks at it first; the browser
still settles for a few seconds after login, which a first open at once pays for). Each page is
opened ``--repeats`` times, alternating with a light page in between (Portfolio); the first open
(cold caches) and the
median of the rest are printed, with the CPU seconds over each open of the server process and
of the browser's processes (``/proc/PID/stat``) and the megabytes the page received over the
websocket: on a loaded machine the wall time grows, the CPU seconds say where the time goes.

Baseline, in the same run and browser: a minimal Streamlit app of two empty pages, served by
a second server with the same Streamlit, navigated the same way. The ratio page / empty page
says how much more than Streamlit's own navigation round trip a page costs. Target: ≤ 1 s
from click to idle for Backtest and Risk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.timing import load_line, process_cpu_seconds  # noqa: E402

TARGET_SECONDS = 1.0
QUIET_MS = 700
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE_TITLES = {"backtest": "Backtest", "risk": "Risk", "portfolio": "Portfolio"}

# Counts websocket messages (and their bytes) and DOM changes, with the time of the last of each (performance.now()).
WATCH_SCRIPT = """
(() => {
  window.__bench = {lastMessage: 0, lastMutation: 0, messages: 0, bytes: 0};
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      window.__bench.messages += 1;
      const data = event.data;
      window.__bench.bytes += data.byteLength ?? data.size ?? data.length ?? 0;
      window.__bench.lastMessage = performance.now();
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const observe = () => new MutationObserver(() => { window.__bench.lastMutation = performance.now(); })
    .observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) observe(); else document.addEventListener('DOMContentLoaded', observe);
})();
"""

EMPTY_APP = """
import streamlit as st

def empty_a() -> None:
    pass

def empty_b() -> None:
    pass

st.navigation([st.Page(empty_a, title="Empty A", default=True), st.Page(empty_b, title="Empty B")]).run()
"""


@dataclass
class Opening:
    """One click on a menu link: seconds to idle, server and browser CPU seconds, messages and bytes received."""

    seconds: float
    server_cpu: float
    messages: int
    browser_cpu: float = 0.0
    received_bytes: int = 0


def browser_cpu_seconds() -> float:
    """CPU seconds of every Chromium process descended from this process (the browser Playwright started)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.rsplit(")", 1)
        parents[int(entry.name)] = int(rest.split()[1])
        names[int(entry.name)] = name.split("(", 1)[1]
    me = os.getpid()
    total = 0.0
    for pid, name in names.items():
        if "chrom" not in name:
            continue
        ancestor = parents.get(pid, 0)
        while ancestor > 1 and ancestor != me:
            ancestor = parents.get(ancestor, 0)
        if ancestor == me:
            total += process_cpu_seconds(pid)
    return total


@dataclass
class PageTimes:
    openings: list[Opening] = field(default_factory=list)

    @property
    def first(self) -> Opening:
        return self.openings[0]

    def warm_median(self) -> float:
        rest = [opening.seconds for opening in self.openings[1:]] or [self.first.seconds]
        return statistics.median(rest)

    def warm_cpu_median(self) -> float:
        rest = [opening.server_cpu for opening in self.openings[1:]] or [self.first.server_cpu]
        return statistics.median(rest)

    def warm_received_median(self) -> float:
        rest = [opening.received_bytes for opening in self.openings[1:]] or [self.first.received_bytes]
        return statistics.median(rest)

    def warm_browser_cpu_median(self) -> float:
        rest = [opening.browser_cpu for opening in self.openings[1:]] or [self.first.browser_cpu]
        return statistics.median(rest)


def start_server(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    from scripts.screenshot import free_port, wait_healthy

    port = free_port()
    server = subprocess.Popen(
        [
            *command,
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_healthy(port, timeout=120)
    return server, port


def wait_idle(page: Any, timeout_s: float = 120.0) -> tuple[float, int, int]:
    """Wait until the page is idle; return (performance.now() of its last activity, messages and bytes so far)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = page.evaluate(
            "() => ({now: performance.now(), running: !!document.querySelector('[data-testid=\"stStatusWidget\"]'),"
            " script: document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state'),"
            " ...window.__bench})"
        )
        last = max(state["lastMessage"], state["lastMutation"])
        # the script state matters on a cold open: a script run may send nothing for longer than QUIET_MS
        if not state["running"] and state["script"] == "notRunning" and state["now"] - last >= QUIET_MS:
            return last, int(state["messages"]), int(state["bytes"])
        page.wait_for_timeout(50)
    raise TimeoutError("the page did not become idle")


def open_by_menu(page: Any, title: str, server_pid: int) -> Opening:
    """Click the sidebar link ``title``; return the time from the click to idle and the server's CPU."""
    link = page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first
    link.wait_for()
    cpu_before, browser_before = process_cpu_seconds(server_pid), browser_cpu_seconds()
    before, bytes_before = page.evaluate("() => [window.__bench.messages, window.__bench.bytes]")
    clicked = page.evaluate("() => performance.now()")
    link.click()
    # the click must lead to a script run: wait for its first message before looking for idle
    page.wait_for_function(f"() => window.__bench.messages > {before}", timeout=60_000)
    last, messages, received = wait_idle(page)
    server_cpu = process_cpu_seconds(server_pid) - cpu_before
    return Opening(
        (last - clicked) / 1000,
        server_cpu,
        messages - before,
        browser_cpu_seconds() - browser_before,
        received - bytes_before,
    )


def measure_pages(
    browser: Any, port: int, server_pid: int, pages: list[str], repeats: int, login: bool, rest_s: float = 0.0
) -> dict[str, PageTimes]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("[data-testid='stApp']", timeout=120_000)
    if login:
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password", exact=True).fill("demo")
        page.get_by_role("button", name="Login").click()
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(rest_s * 1000)  # the user looks at the first page before the first click
    results: dict[str, PageTimes] = {name: PageTimes() for name in pages}
    light = "Portfolio" if login else "Empty A"
    for _ in range(repeats):
        for name in pages:
            results[name].openings.append(open_by_menu(page, PAGE_TITLES.get(name, name), server_pid))
            open_by_menu(page, light, server_pid)  # leave the page, so the next click opens it again
    if login:
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "konsens-page-browser.png"), full_page=True)
    context.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/konsens-bench-pages.db", help="SQLite file to build/reuse")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pages", default="backtest,risk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rest",
        type=float,
        default=0.0,
        help="seconds between the first page being idle after login and the first click (default 0: at once)",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from bench.page_render import build_database

    path = Path(args.db)
    if args.rebuild or not path.exists():
        print(f"building {path} ...")
        build_database(path)
    pages = [name.strip() for name in args.pages.split(",") if name.strip()]
    print(f"before: {load_line()}")
    if args.rest:
        print(f"first click {args.rest:g} s after the first page is idle after login (the verdict's default: at once)")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        home.mkdir()
        empty_app = Path(folder) / "empty_app.py"
        empty_app.write_text(EMPTY_APP)
        env = {
            **os.environ,
            "KONSENS_DATABASE_URL": f"sqlite:///{path}",
            "KONSENS_HOME": str(home),
            "PYTHONPATH": str(ROOT),
        }
        baseline_env = {key: value for key, value in env.items() if not key.startswith("KONSENS_")}
        server, port = start_server([sys.executable, "-m", "app.server"], env)
        empty, empty_port = start_server([sys.executable, "-m", "streamlit", "run", str(empty_app)], baseline_env)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                baseline = measure_pages(browser, empty_port, empty.pid, ["Empty B"], args.repeats, login=False)
                results = measure_pages(browser, port, server.pid, pages, args.repeats, login=True, rest_s=args.rest)
                browser.close()
        finally:
            for process in (server, empty):
                process.terminate()
                process.wait(timeout=30)
    base = baseline["Empty B"]
    print(
        f"empty page (baseline, minimal Streamlit app): first {base.first.seconds:.3f} s, warm median "
        f"{base.warm_median():.3f} s, server CPU {base.warm_cpu_median():.3f} s, "
        f"browser CPU {base.warm_browser_cpu_median():.3f} s"
    )
    ok = True
    for name, times in results.items():
        warm = times.warm_median()
        meets = times.first.seconds <= TARGET_SECONDS and warm <= TARGET_SECONDS
        ok &= meets
        print(
            f"{name}: first open {times.first.seconds:.3f} s (server CPU {times.first.server_cpu:.3f} s, browser CPU "
            f"{times.first.browser_cpu:.3f} s, {times.first.messages} messages, "
            f"{times.first.received_bytes / 1e6:.2f} MB), warm median {warm:.3f} s "
            f"(server CPU {times.warm_cpu_median():.3f} s, browser CPU {times.warm_browser_cpu_median():.3f} s, "
            f"{times.warm_received_median() / 1e6:.2f} MB)"
            f"; {warm / base.warm_median():.1f}x the empty page warm, "
            f"{times.first.seconds / base.warm_median():.1f}x first; target <= {TARGET_SECONDS:g} s: "
            f"{'ok' if meets else 'MISSED'}"
        )
        print(f"  every open: {', '.join(f'{opening.seconds:.3f}' for opening in times.openings)} s")
    print(f"after: {load_line()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
