"""Analytics over candles: indicators (pandas-ta), support/resistance levels, patterns."""
