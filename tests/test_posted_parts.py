"""The memory that keeps a retried multi-part delivery from posting its first parts twice."""

from __future__ import annotations

from adapters.posted_parts import PostedParts, part_keys


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_keys_depend_on_destination_position_and_content() -> None:
    a = part_keys("C1", ["one", "two"])
    assert len(set(a)) == 2
    assert part_keys("C1", ["one", "two"]) == a
    assert part_keys("C2", ["one", "two"])[0] != a[0]
    assert part_keys("C1", ["one", "two", "three"])[0] != a[0]  # split in three: another part
    assert part_keys("C1", ["one", "three"])[1] != a[1]
    assert part_keys("C1", ["two", "one"])[1] != a[0]


def test_parts_expire_and_the_memory_is_bounded() -> None:
    ticks = Ticks()
    memory = PostedParts(ttl_seconds=60, max_entries=3, clock=ticks)
    memory.remember("a")
    ticks.now = 30
    memory.remember("b")
    assert memory.posted("a") and memory.posted("b")
    ticks.now = 61
    assert not memory.posted("a") and memory.posted("b")
    for key in "cde":
        memory.remember(key)
    assert len(memory) == 3 and not memory.posted("b")  # the oldest went first
    memory.forget(["c", "d", "x"])
    assert len(memory) == 1 and memory.posted("e")
