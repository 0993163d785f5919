"""A server that never answers, or trickles an answer that never ends, costs each request exactly the configured
time limit (timeout x attempts + backoff), and `compact_nb generate` says so on stderr as it happens."""
import os, re, subprocess, sys, time
from pathlib import Path
import pytest, yaml

import compact_nb
from compact_nb.data.core import Example
from compact_nb.data.corpus import write_corpus
from compact_nb.teachers.backends import TeacherConfig, worst_case_s
from compact_nb.teachers.pool import TeacherPool, GenerationCache, rationale_jobs
from teacher_proxy import SilentServer

ROOT = Path(compact_nb.__file__).parent.parent
LIMITS = dict(timeout=0.4, max_retries=2, backoff=0.1)   # worst case: 3 x 0.4 + 0.1 + 0.2 = 1.5 s


def qs(n):
    return [Example(f"What is {a} + 1?", str(a + 1), 'numeric', qid=f"q{a}") for a in range(n)]


@pytest.mark.parametrize('trickle', [False, True], ids=['silent', 'trickling'])
def test_each_request_costs_exactly_the_worst_case(tmp_path, trickle):
    "Two requests in parallel, each timing out 3 times: both fail after worst_case_s, not after the server gives up (30 s)."
    cfg = TeacherConfig('hung', 'm', concurrency=2, **LIMITS)
    assert worst_case_s(cfg) == pytest.approx(1.5)
    with SilentServer(trickle=trickle) as server:
        cfg.base_url = server.base_url
        pool = TeacherPool([cfg])
        t0 = time.monotonic()
        with GenerationCache(tmp_path/'cache.jsonl') as cache: res, stats = pool.run(rationale_jobs(pool, qs(2)), cache)
        took = time.monotonic() - t0
        connections = server.connections
    s = stats['hung']
    assert (s.asked, s.answered, s.failed, s.retries, s.errors) == (2, 0, 2, 4, {'timeout': 2})
    assert connections == 6
    assert all(e['attempts'] == 3 and e['error'] == 'timeout: no answer within 0.4 s (after 3 attempts)' for e in res.values())
    assert 1.5 <= took < 1.5 + 1.0, took


def test_generate_prints_the_limit_and_every_retry(tmp_path):
    "The command line: the limit per request up front, then one stderr line per retry and per giving-up."
    write_corpus(qs(1), tmp_path/'questions.jsonl')
    with SilentServer() as server:
        (tmp_path/'teachers.yaml').write_text(yaml.safe_dump({'teachers': [{'name': 'hung', 'model': 'm',
                                                                            'base_url': server.base_url, **LIMITS}]}))
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, '-m', 'compact_nb.cli', 'generate', '--config', str(tmp_path/'teachers.yaml'),
                            '--questions', str(tmp_path/'questions.jsonl'), '--out', str(tmp_path/'corpus.jsonl')],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**os.environ, 'PYTHONPATH': str(ROOT)})
        took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr                      # nobody answered anything
    lines = [re.sub(r'^\d\d:\d\d:\d\d ', '', l) for l in r.stderr.splitlines()]
    assert 'teacher hung: 1 requests, 4 at a time; a request that gets no answer fails after 1.5 s (0.4 s x 3 attempts + 0.3 s backoff)' in lines
    assert [l for l in lines if l.startswith('teacher hung: timeout')] == [
        'teacher hung: timeout on attempt 1/3; retrying in 0.10 s',
        'teacher hung: timeout on attempt 2/3; retrying in 0.20 s',
        'teacher hung: timeout on attempt 3/3; giving up']
    assert 'timeout on attempt 1/3; retrying in 0.10 s' in (tmp_path/'corpus.log').read_text()
    assert took < 60, took


def test_generate_help_states_the_limit():
    r = subprocess.run([sys.executable, '-m', 'compact_nb.cli', 'generate', '--help'], capture_output=True, text=True,
                       timeout=120, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    text = ' '.join(r.stdout.split())
    assert r.returncode == 0
    assert 'timeout * (1 + max_retries) + the waits before it fails: 120 * 5 + (1 + 2 + 4 + 8) = 615 s' in text
    assert 'prints a line on stderr (attempt n/N and the wait)' in text
