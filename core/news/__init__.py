"""News, social posts and economic calendar: collection, dedupe, tagging, sentiment, influence."""
