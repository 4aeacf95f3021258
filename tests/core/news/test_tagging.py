from __future__ import annotations

from core.news.tagging import clean_instrument_name, ticker_of
from tests.core.news.conftest import make_tagger


def tags(text: str, ids: dict[str, int], **kwargs: object) -> dict[int, str]:
    tagger = make_tagger(ids, kwargs.pop("aliases", None))  # type: ignore[arg-type]
    return {match.instrument_id: match.matched for match in tagger.tag(text, **kwargs)}  # type: ignore[arg-type]


def test_cashtags_are_case_insensitive(tagger_ids: dict[str, int]) -> None:
    assert tags("Loading up on $btc and $AAPL today", tagger_ids) == {1: "$btc", 4: "$AAPL"}


def test_bare_tickers_only_in_upper_case(tagger_ids: dict[str, int]) -> None:
    assert tags("SOL and ETH lead the market", tagger_ids) == {3: "SOL", 2: "ETH"}
    assert tags("Un día de sol en Madrid", tagger_ids) == {}


def test_names_and_default_aliases_whole_words_only(tagger_ids: dict[str, int]) -> None:
    assert tags("Apple shares rise; bitcoin miners follow; ether steady", tagger_ids) == {
        4: "Apple",
        1: "bitcoin",
        2: "ether",
    }
    assert tags("Pineapple prices and Ethereal music", tagger_ids) == {}


def test_configured_aliases_by_ticker_or_symbol(tagger_ids: dict[str, int]) -> None:
    aliases = {"BTC": ["digital gold"], "SOL/EUR": ["phantom chain"]}
    assert tags("Is digital   gold back? The phantom chain is busy", tagger_ids, aliases=aliases) == {
        1: "digital   gold",
        3: "phantom chain",
    }


def test_hint_symbols_add_instruments_named_by_the_source(tagger_ids: dict[str, int]) -> None:
    assert tags("Daily discussion thread", tagger_ids, hint_symbols=["BTC/EUR", "UNKNOWN"]) == {1: "source:BTC/EUR"}


def test_common_upper_case_words_are_not_tickers() -> None:
    from core.news.tagging import TaggableInstrument, Tagger

    tagger = Tagger([TaggableInstrument(9, "CEO/EUR", "CEO")])
    assert tagger.tag("The CEO resigned") == []
    assert [m.matched for m in tagger.tag("Buying $CEO")] == ["$CEO"]


def test_name_cleaning_and_tickers() -> None:
    assert clean_instrument_name("Apple Inc. (demo, priced in EUR)") == "Apple"
    assert clean_instrument_name("Microsoft Corporation") == "Microsoft"
    assert clean_instrument_name(None) is None
    assert ticker_of("BTC/EUR") == "BTC"
    assert ticker_of("AAPL", "aapl") == "AAPL"
