"""The Streamlit shell: login, then navigation over the page scripts in the top-level ``pages/``.

Run with ``python -m app.server`` (``streamlit run app/main.py`` with the imports done before it serves)
or ``konsens up``. No page renders before login.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402

from app.ui.auth import login_gate  # noqa: E402
from app.ui.browser_warmup import warm_browser_widgets  # noqa: E402
from app.ui.configuration import configuration_gate  # noqa: E402
from app.ui.preload import start_preload_once  # noqa: E402
from app.ui.theme import apply_theme  # noqa: E402

PAGES_DIR = PROJECT_ROOT / "pages"

# (file, title, icon, section) in menu order; a page file that is not there is left out.
PAGE_TABLE: list[tuple[str, str, str, str]] = [
    ("portfolio.py", "Portfolio", ":material/account_balance_wallet:", "Trading"),
    ("charts.py", "Charts", ":material/candlestick_chart:", "Trading"),
    ("consensus.py", "AI consensus", ":material/groups:", "Trading"),
    ("trade.py", "Trade", ":material/swap_horiz:", "Trading"),
    ("risk.py", "Risk", ":material/shield:", "Analysis"),
    ("backtest.py", "Backtest", ":material/history:", "Analysis"),
    ("news.py", "News & sentiment", ":material/newspaper:", "Analysis"),
    ("tax.py", "Tax report", ":material/receipt_long:", "Analysis"),
    ("settings.py", "Settings", ":material/settings:", "System"),
    ("system.py", "System", ":material/monitor_heart:", "System"),
]


def build_navigation() -> dict[str, list[st.Page]]:
    sections: dict[str, list[st.Page]] = {}
    for index, (file_name, title, icon, section) in enumerate(PAGE_TABLE):
        path = PAGES_DIR / file_name
        if path.exists():
            sections.setdefault(section, []).append(st.Page(str(path), title=title, icon=icon, default=index == 0))
    return sections


def main() -> None:
    st.set_page_config(page_title="Konsens", page_icon=":material/insights:", layout="wide")
    apply_theme()
    if not configuration_gate():
        return
    start_preload_once()
    if not login_gate():
        return
    navigation = st.navigation(build_navigation())
    warm_browser_widgets()  # once per session: the widgets' browser code, loaded while the first page rests
    navigation.run()


main()
