"""Project and company fundamentals: CoinGecko for crypto, Yahoo Finance for stocks and ETFs."""
