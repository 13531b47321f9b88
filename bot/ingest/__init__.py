"""Sources of articles: files (plain text and HTML), web pages and RSS/Atom feeds.

Each source turns raw input into an :class:`bot.models.ArticleDraft`; the engine stores and
summarises drafts the same way whatever their source.
"""
