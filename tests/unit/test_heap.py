import gc

import pytest

from bridge import heap


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_wired_batch_process_keeps_its_long_lived_heap_out_of_collections(restored_gc):
    wired = [{"long": "lived"} for _ in range(1000)]  # modules, engines, code tables …
    heap.freeze_wired()
    assert gc.get_freeze_count() >= len(wired)
    assert gc.get_threshold()[0] == heap.YOUNGEST
    garbage = []
    garbage.append(garbage)  # a cycle made after the freeze is still collected
    del garbage
    assert gc.collect() >= 1
