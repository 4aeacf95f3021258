from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db.engine import Database

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "news.py")
SETTINGS_PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "settings.py")


def logged_in(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    return at


def test_news_page_shows_demo_news_sentiment_and_calendar(demo_database: Database) -> None:
    at = logged_in(PAGE)
    at.run()
    assert not at.exception
    assert at.selectbox(key="news_instrument").value == "BTC/EUR"
    metrics = {metric.label: metric.value for metric in at.metric}
    assert int(metrics["Mentions, last 30 days"]) > 100
    assert metrics["Weighted sentiment, last 30 days"] != "–"
    assert [header.value for header in at.subheader] == ["Latest items", "Upcoming economic events"]
    items = at.dataframe[0].value
    assert len(items) > 100
    assert set(items["instruments"]).issuperset({"BTC/EUR"})
    assert items["sentiment"].between(-1, 1).all() and items["influence"].between(0, 1).all()
    assert {"rss:demo-wire", "reddit:demo", "x:demo"} <= set(items["source"])
    events = at.dataframe[1].value
    assert len(events) > 0 and {"US", "EA"} >= set(events["Country"])


def test_search_and_instrument_filters(demo_database: Database) -> None:
    at = logged_in(PAGE)
    at.run()
    at.selectbox(key="news_instrument").set_value("ETH/EUR")
    at.text_input(key="news_search").set_value("PAINFUL")
    at.run()
    assert not at.exception
    items = at.dataframe[0].value
    assert len(items) > 0
    assert items["instruments"].str.contains("ETH/EUR").all()
    assert items["title"].str.lower().str.contains("painful").all()
    at.text_input(key="news_search").set_value("no such headline anywhere")
    at.run()
    assert any("No items match" in info.value for info in at.info)


def test_export_section_offers_a_download(demo_database: Database) -> None:
    at = logged_in(PAGE)
    at.run()
    at.selectbox(key="export_table").set_value("sentiment_hourly")
    at.run()
    assert not at.exception
    assert any("rows of sentiment_hourly" in caption.value for caption in at.caption)


def test_settings_page_has_a_news_tab(demo_database: Database) -> None:
    at = logged_in(SETTINGS_PAGE)
    at.run()
    assert not at.exception
    headers = [header.value for header in at.subheader]
    assert {"RSS feeds", "API credentials", "Tagging aliases", "Retention"} <= set(headers)
