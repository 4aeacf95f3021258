"""Take screenshots of dashboard pages in headless Chromium (for looking at what we build).

    python scripts/screenshot.py --db sqlite:////tmp/demo.db --out /tmp/shots portfolio charts

Starts the dashboard (``python -m app.server``) on a free port against ``--db`` (which must hold demo data),
or uses one already running on ``--port`` (e.g. ``konsens up``'s, 8501);
logs in as demo/demo, opens each page by its URL path and saves ``<out>/<page>.png``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _page_titles() -> dict[str, str]:
    """Map page file stems (portfolio, charts...) to their menu titles, from app/main.py's PAGE_TABLE."""
    import ast

    tree = ast.parse((ROOT / "app" / "main.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "PAGE_TABLE":
            table = ast.literal_eval(node.value)  # type: ignore[arg-type]
            return {file_name.removesuffix(".py"): title for file_name, title, _icon, _section in table}
    return {}


PAGE_TITLES = _page_titles()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


def wait_idle(page: Any, timeout_ms: int = 120_000) -> None:
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    page.wait_for_timeout(1500)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="start a dashboard on this database (which must hold demo data)")
    parser.add_argument("--port", type=int, help="use the dashboard already running on this local port instead")
    parser.add_argument("--out", default="/tmp/konsens-shots")
    parser.add_argument("--home", default=None)
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after a page is idle (pages with fast live fragments)",
    )
    parser.add_argument("pages", nargs="+", help="URL paths of pages, e.g. portfolio charts system")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if (args.db is None) == (args.port is None):
        parser.error("give either --db (start a dashboard) or --port (use a running one)")
    server: subprocess.Popen[bytes] | None = None
    port = args.port or free_port()
    if args.db:
        env = {**os.environ, "KONSENS_DATABASE_URL": args.db, "PYTHONPATH": str(ROOT)}
        if args.home:
            env["KONSENS_HOME"] = args.home
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.server",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_healthy(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/")
            wait_idle(page)
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password", exact=True).fill("demo")
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("[data-testid='stSidebarNav']", timeout=120_000)
            wait_idle(page)
            for name in args.pages:
                # Click the sidebar link by its title (a fresh URL load would start a new session,
                # and the default page's link points at "/" rather than its name).
                page.locator("[data-testid='stSidebarNav'] a").filter(
                    has_text=PAGE_TITLES.get(name, name)
                ).first.click()
                wait_idle(page)
                if args.settle:
                    page.wait_for_timeout(args.settle * 1000)
                    wait_idle(page)
                target = out / f"{name or 'home'}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
