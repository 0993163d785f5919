"""API keys never reach a file, a log or the terminal: a short key, a key in the server URL (user:KEY@host), and a
key that the server echoes back inside its answers, during a whole `compact_nb generate` run against a stand-in
server."""
import base64, logging, os, re, subprocess, sys
from pathlib import Path
import pytest, yaml

import compact_nb
from compact_nb.data.core import Example
from compact_nb.data.corpus import write_corpus, read_corpus
from compact_nb.teachers.backends import TeacherConfig, make_backend, run_sync, redact, register_secret, forget_secrets
from teacher_proxy import FaultyProxy

ROOT = Path(compact_nb.__file__).parent.parent
CLI = "from compact_nb.teachers.generate import cli_generate; import sys; sys.exit(cli_generate(sys.argv[1:]))"
SHORT_KEY = 'Kq9!'          # shorter than 8 characters: once never redacted
URL_KEY = 'Pw-7d3Kq2Zx81'   # the password in http://bob:URL_KEY@host/v1


def questions(tmp_path, n=3):
    qs = [Example(f"What is {a} + {a}?", str(2 * a), 'numeric', qid=f"q{a}") for a in range(1, n + 1)]
    write_corpus(qs, tmp_path/'questions.jsonl')
    return qs


def answer_echoing_auth(body, headers):
    "A correct answer that also repeats the Authorization header the server received (a careless server)."
    q = body['messages'][-1]['content']
    a = int(re.search(r'What is (\d+) \+', q).group(1))
    return f"I was called with {headers.get('Authorization')}. {a} + {a} = {2 * a}. The answer is {2 * a}"


def generate(tmp_path, base_url, env_key=None):
    "Run `compact_nb generate` in a fresh process with one teacher at `base_url`; (completed process, {name: text} written)."
    teacher = {'name': 'echo', 'model': 'm', 'base_url': base_url, 'max_retries': 0, 'timeout': 30}
    if env_key: teacher['api_key_env'] = 'COMPACT_NB_TEST_SHORT_KEY'
    (tmp_path/'teachers.yaml').write_text(yaml.safe_dump({'teachers': [teacher]}))
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)}
    if env_key: env['COMPACT_NB_TEST_SHORT_KEY'] = env_key
    r = subprocess.run([sys.executable, '-c', CLI, '--config', str(tmp_path/'teachers.yaml'), '--questions',
                        str(tmp_path/'questions.jsonl'), '--out', str(tmp_path/'corpus.jsonl'), '--no-progress', 'true'],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    inputs = {'teachers.yaml', 'questions.jsonl'} # the key is in the teachers file by the test's own doing
    files = {f.name: f.read_text(errors='replace') for f in tmp_path.iterdir() if f.is_file() and f.name not in inputs}
    return r, files


def test_short_key_echoed_in_answers_is_nowhere(tmp_path):
    qs = questions(tmp_path)
    with FaultyProxy(answer=answer_echoing_auth) as server:
        r, files = generate(tmp_path, server.base_url, env_key=SHORT_KEY)
        sent = [rec['authorization'] for rec in server.log]
    assert r.returncode == 0, r.stderr
    assert sent == [f"Bearer {SHORT_KEY}"] * len(qs)            # the key was used, and echoed back in every answer
    corpus = read_corpus(tmp_path/'corpus.jsonl')
    assert [e.qid for e in corpus] == [q.qid for q in qs]       # the answers still count: redaction keeps the text usable
    assert all('called with Bearer <redacted>.' in r.text for e in corpus for rs in e.rationales.values() for r in rs)
    assert {'corpus.jsonl', 'corpus.cache.jsonl', 'corpus.report.json', 'corpus.log'} <= set(files)
    for name, text in {**files, 'stdout': r.stdout, 'stderr': r.stderr}.items():
        assert SHORT_KEY not in text, name


def test_key_in_base_url_is_sent_but_never_logged(tmp_path):
    qs = questions(tmp_path, n=2)
    with FaultyProxy(answer=answer_echoing_auth) as server:
        url = server.base_url.replace('http://', f"http://bob:{URL_KEY}@")
        r, files = generate(tmp_path, url)
        sent = [rec['authorization'] for rec in server.log]
    assert r.returncode == 0, r.stderr
    token = base64.b64encode(f"bob:{URL_KEY}".encode()).decode()
    assert sent == [f"Basic {token}"] * len(qs)                 # the credentials still reach the server
    assert 'HTTP Request: POST http://127.0.0.1:' in files['corpus.log']  # httpx's request lines are in the log...
    for name, text in {**files, 'stdout': r.stdout, 'stderr': r.stderr}.items():
        for secret in (URL_KEY, token, f"bob:{URL_KEY}"): assert secret not in text, (name, secret)  # ...without the key


def test_key_in_base_url_in_process_logs(tmp_path, caplog):
    "The same, in this process with every logger at DEBUG: no record holds the key, the repr of nothing shows it."
    with FaultyProxy(answer=answer_echoing_auth) as server:
        cfg = TeacherConfig('t', 'm', base_url=server.base_url.replace('http://', f"http://bob:{URL_KEY}@"), max_retries=0)
        be = make_backend(cfg)
        with caplog.at_level(logging.DEBUG):
            c = run_sync(be.complete([dict(role='user', content='What is 2 + 2?')], {}))
            run_sync(be.aclose())
    assert c.text.startswith('I was called with Basic ')
    logged = '\n'.join(redact(r.getMessage()) for r in caplog.records) # as the RedactFilter of the command line writes them
    raw = '\n'.join(r.getMessage() for r in caplog.records)
    assert 'http://127.0.0.1:' in raw and URL_KEY not in raw       # the client never even saw the key in a URL
    token = base64.b64encode(f"bob:{URL_KEY}".encode()).decode()
    for text in (logged, raw, repr(be), repr(cfg), str(be.client.base_url)): assert URL_KEY not in text
    assert token not in logged


def test_url_key_with_api_key_env_is_refused(tmp_path):
    (tmp_path/'teachers.yaml').write_text(yaml.safe_dump({'teachers': [
        {'name': 'a', 'model': 'm', 'base_url': f"http://bob:{URL_KEY}@127.0.0.1:9/v1", 'api_key_env': 'HOME'}]}))
    questions(tmp_path, n=1)
    r = subprocess.run([sys.executable, '-m', 'compact_nb.cli', 'generate', '--config', str(tmp_path/'teachers.yaml'),
                        '--questions', str(tmp_path/'questions.jsonl'), '--out', str(tmp_path/'c.jsonl')],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert r.returncode == 2
    assert "compact_nb generate: error: " in r.stderr and 'base_url carries credentials' in r.stderr
    assert URL_KEY not in r.stderr + r.stdout


@pytest.mark.parametrize('key,shown,hidden', [
    ('abc', 'key=abc; abcdef and xabc stay', 'key=<redacted>; abcdef and xabc stay'),
    ('a', 'Bearer a', 'Bearer <redacted>'),
    ('sk-0123456789', 'echo ****23456789', 'echo ****<redacted>'),
])
def test_redaction_rule(key, shown, hidden):
    forget_secrets()
    register_secret(key)
    try: assert redact(shown) == hidden
    finally: forget_secrets()
