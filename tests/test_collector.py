"""engine.collector.paused: the cyclic collector off inside, and afterwards as it was before."""

from __future__ import annotations

import gc

import pytest
from rectify.engine.store import collector


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_resumed_after_even_on_error(restore_gc):
    """The garbage collector is off inside `paused()` and back on after it, even when
    the block raises."""
    gc.enable()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off(restore_gc):
    """`paused()` does not switch on a collector that was already off."""
    gc.disable()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
