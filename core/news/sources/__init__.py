"""News sources: one adapter per provider behind the :class:`~core.news.sources.base.NewsSource` protocol."""
