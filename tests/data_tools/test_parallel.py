"""map_ordered: results in input order whatever the worker count; input read lazily."""

from data_tools.parallel import map_ordered

OFFSET = {"value": 0}


def set_offset(value):
    OFFSET["value"] = value


def add_offset(item):
    return item + OFFSET["value"]


def test_in_process_keeps_order_and_reads_lazily():
    pulled = []

    def items():
        for i in range(5):
            pulled.append(i)
            yield i

    results = map_ordered(set_offset, 100, add_offset, items(), workers=1)
    assert next(results) == 100 and pulled == [0, 1]  # two peeked to decide on a pool, no more
    assert list(results) == [101, 102, 103, 104]


def test_pool_keeps_order():
    assert list(map_ordered(set_offset, 10, add_offset, range(12), workers=2, max_pending=3)) == list(range(10, 22))
