"""rollbot's side of Slack's Web API: the rollout conversation, delivered reliably.

:class:`SlackDelivery` is the engine listener (see :mod:`bot.slack.delivery`);
:func:`delivery_client` builds the WebClient it is meant to get. Requests coming the
other way, over HTTP, are checked by :mod:`bot.slack.verify` and taken in by
:mod:`bot.slack.events`; over Socket Mode, by :mod:`bot.slack.socket_mode`.
"""

from bot.slack.client import delivery_client
from bot.slack.delivery import SlackDelivery

__all__ = ["SlackDelivery", "delivery_client"]
