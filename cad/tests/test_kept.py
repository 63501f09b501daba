"""Values a process keeps instead of reading them every time (cad/kept.py)."""

from cad.kept import Kept, forget_everything


class Reader:
    """Counts reads; each read returns a new value, so a kept one can be told from a fresh one."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def of(self, key: str):
        def read() -> str:
            self.reads.append(key)
            return f"{key}#{len(self.reads)}"

        return read


def test_a_value_is_read_once_within_its_ttl_and_again_after(kept_clock):
    values, reader = Kept(lambda: 10.0), Reader()
    assert values.get("a", reader.of("a")) == "a#1"
    kept_clock.now += 9.9
    assert values.get("a", reader.of("a")) == "a#1"
    kept_clock.now += 0.1
    assert values.get("a", reader.of("a")) == "a#2"
    assert reader.reads == ["a", "a"]


def test_the_ttl_is_asked_on_every_get_and_zero_reads_every_time(kept_clock):
    ttl = {"s": 0.0}
    values, reader = Kept(lambda: ttl["s"]), Reader()
    assert [values.get("a", reader.of("a")) for _ in range(3)] == ["a#1", "a#2", "a#3"]
    ttl["s"] = 60.0
    assert values.get("a", reader.of("a")) == "a#4"  # nothing was kept while it was 0
    assert values.get("a", reader.of("a")) == "a#4"


def test_past_most_the_key_read_longest_ago_is_dropped(kept_clock):
    values, reader = Kept(lambda: 60.0, most=2), Reader()
    values.get("a", reader.of("a"))
    values.get("b", reader.of("b"))
    kept_clock.now += 61
    values.get("a", reader.of("a"))  # read again: now the newest
    values.get("c", reader.of("c"))  # over two: b goes, read longest ago
    reader.reads.clear()
    assert values.get("a", reader.of("a")) == "a#3"
    assert values.get("c", reader.of("c")) == "c#4"
    assert reader.reads == []
    values.get("b", reader.of("b"))
    assert reader.reads == ["b"]


def test_forget_everything_forgets_every_kept_value(kept_clock):
    first, second, reader = Kept(lambda: 60.0), Kept(lambda: 60.0), Reader()
    first.get("a", reader.of("a"))
    second.get("b", reader.of("b"))
    forget_everything()
    assert first.get("a", reader.of("a")) == "a#3"
    assert second.get("b", reader.of("b")) == "b#4"
