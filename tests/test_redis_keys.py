"""tests/redis_keys.py: a prefix's keys removed, and only those, whatever the prefix holds."""

import pytest
import redis

from tests.redis_keys import delete_keys


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_only_keys_beginning_with_the_prefix_are_removed(client, redis_url):
    # Redis' glob would read `[1]` as a class and `*` as anything: taken literally here.
    mine = ["rk-t[1]*:recommend", "rk-t[1]*:_kombu.binding.recommend"]
    others = ["rk-t1x:recommend", "rk-t[1]*", "other:rk-t[1]*:recommend"]
    for key in mine + others:
        client.set(key, "1")
    try:
        assert delete_keys(redis_url, "rk-t[1]*:") == 2
        assert [client.exists(key) for key in mine] == [0, 0]
        assert [client.exists(key) for key in others] == [1, 1, 1]
    finally:
        client.delete(*mine, *others)


def test_an_empty_prefix_is_refused(redis_url):
    with pytest.raises(ValueError):
        delete_keys(redis_url, "")
