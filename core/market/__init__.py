"""Market data: instruments, candles, quotes and the adapters that collect them."""
