"""briefbot: the platform-neutral briefing engine.

Nothing in this package imports Slack or Discord code; adapters in ``adapters/`` translate
platform events into calls on :class:`bot.engine.BriefingEngine` and render its replies.
"""

__version__ = "0.1.0"
