"""rollbot's side of Slack's Web API: the rollout conversation, delivered reliably.

:class:`SlackDelivery` is the engine listener (see :mod:`bot.slack.delivery`);
:func:`delivery_client` builds the WebClient it is meant to get (:mod:`bot.slack.web` builds
every Slack client rollbot makes). Requests coming the
other way, over HTTP, are checked by :mod:`bot.slack.verify` and taken in by
:mod:`bot.slack.events`; over Socket Mode, by :mod:`bot.slack.socket_mode`.
"""

from bot.slack.delivery import SlackDelivery
from bot.slack.web import delivery_client

__all__ = ["SlackDelivery", "delivery_client"]
