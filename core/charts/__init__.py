"""Chart data for the Charts page: candles of a range, indicators, levels, own trades."""
