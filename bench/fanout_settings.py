"""Settings for bench/board_fanout.py --layer pubsub: cad.settings with channels-redis' pub/sub
layer, to compare against the default RedisChannelLayer. Not used by the application."""

from cad.settings import *  # noqa: F403
from cad.settings import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
