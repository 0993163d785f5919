"""Shared pytest options: `--runslow` runs tests marked `slow`; `shared` gives the shared data folder or skips."""
import pytest
from compact_nb.data.core import shared_data

def pytest_addoption(parser):
    parser.addoption('--runslow', action='store_true', default=False, help='run tests marked slow')

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long test, run with --runslow')

def pytest_collection_modifyitems(config, items):
    if config.getoption('--runslow'): return
    skip = pytest.mark.skip(reason='slow: run with --runslow')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)

@pytest.fixture
def shared():
    "The shared data folder (../shared/data), or skip the test when this machine does not have it."
    d = shared_data()
    if d is None: pytest.skip('shared data not found: set COMPACT_NB_DATA or place shared/data beside the checkout')
    return d
