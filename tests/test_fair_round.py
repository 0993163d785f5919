"""`compact_nb fair-round` end to end against a scripted committee over HTTP (`teacher_proxy.FaultyProxy`), with the
tiny student: the files it writes, FAIR's acceptance (mean 3.0 rejected at threshold 3, 3.5 accepted), a trained
run with both tasks' losses, a re-run that asks no teacher and trains nothing, a killed run that resumes from the
cache, and refusals before anything loads; and (slow) the whole round against llama-cpp-python's real server."""
import json, os, re, subprocess, sys, time
import pytest, yaml
from compact_nb.data.core import Example
from compact_nb.data.corpus import read_corpus, write_corpus
from compact_nb.data.testbed import toy_corpus
from compact_nb.teachers.fair_round import cli_fair_round
from teacher_proxy import FaultyProxy

# reviewer, author -> review: a's solutions get 3 and 4 (mean 3.5), b's 3 and 3 (3.0), c's 5 and no score (5)
REVIEW = {('b', 'a'): 'Fine. [3]', ('c', 'a'): 'Sound. [4]', ('a', 'b'): 'Hmm. [3]', ('c', 'b'): 'Meh. [3]',
          ('a', 'c'): 'Perfect. [5]', ('b', 'c'): 'I cannot judge this one.'}


def committee(golds):
    "Scripted teachers a, b, c (the request's model): right answers except c's on even golds, explanations, bracketed reviews."
    def answer(body, headers):
        who, text = body['model'], body['messages'][-1]['content']
        if text.startswith('You are reviewing'): return REVIEW[(who, re.search(r'Teacher (\w) adds', text).group(1))]
        if text.startswith('A student answered'): return f"Teacher {who}: the student lost track of the steps."
        g = next(int(v) for q, v in golds.items() if text.startswith(q))
        return f"Teacher {who} adds the steps one by one. The answer is {g + 1 if who == 'c' and g % 2 == 0 else g}"
    return answer


@pytest.fixture
def files(tmp_path):
    toy = toy_corpus(6, teachers=['equations'], seed=11)
    write_corpus(toy, tmp_path/'questions.jsonl')
    return tmp_path, {q.question: q.gold for q in toy}


def teachers_file(path, url):
    path.write_text(yaml.safe_dump({'defaults': {'base_url': url, 'timeout': 30, 'max_retries': 0},
                                    'teachers': [{'name': n, 'model': n} for n in 'abc']}))
    return path


def args(d, *extra):
    return ['--student', 'tiny', '--teachers-file', d/'teachers.yaml', '--questions', d/'questions.jsonl', '--out', d/'out',
            '--max-new-tokens', '12', '--progress', 'false', '--train.max-steps', '2', '--train.batch-size', '2',
            '--train.lora-dropout', '0', *extra]


def run(capsys, *argv):
    rc = cli_fair_round(list(map(str, argv)))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_round_end_to_end_then_rerun(files, capsys):
    d, golds = files
    with FaultyProxy(answer=committee(golds)) as server:
        teachers_file(d/'teachers.yaml', server.base_url)
        rc, out, err = run(capsys, *args(d))
        assert rc == 0, err
        o = d/'out'
        rep = json.loads((o/'report.json').read_text())
        wrong = [json.loads(l) for l in (o/'student_wrong.jsonl').read_text().splitlines()]
        assert rep['status'] == 'trained' and rep['questions'] == 6 and rep['wrong'] == len(wrong) >= 4
        assert all(r['correct'] is False and 'output' in r and 'extracted' in r for r in wrong)
        fb = [json.loads(l) for l in (o/'feedback.jsonl').read_text().splitlines()]
        assert [f['id'] for f in fb] == [r['id'] for r in wrong] and all(sorted(f['feedback']) == ['a', 'b', 'c'] for f in fb)
        # FAIR's rule: a (3 and 4, mean 3.5) and c (5; b's reply has no score) accepted, b (3 and 3, mean 3.0) rejected
        corpus = read_corpus(o/'fair_round.jsonl')
        rats = [r for e in corpus for rs in e.rationales.values() for r in rs]
        assert {r.teacher for r in rats} == {'a', 'c'} and len(corpus) == rep['corpus_questions'] == len(wrong)
        assert {r.teacher: r.meta['peer_scores'] for r in rats} == {'a': {'b': 3, 'c': 4}, 'c': {'a': 5}}
        assert all(r.meta['accepted'] and r.meta['mistake']['student_output'] and set(r.meta['mistake']['feedback']) == {'a', 'b', 'c'}
                   for r in rats)
        every = [r for e in read_corpus(o/'fair_round_all.jsonl') for r in e.rationales.get('b', [])]
        assert every and all(r.meta['peer_scores'] == {'a': 3, 'c': 3} and r.meta['accepted'] is False for r in every)
        assert {t: s['accepted'] for t, s in rep['teachers'].items()} == {'a': len(wrong), 'b': 0, 'c': rep['teachers']['c']['correct']}
        assert rep['run'] == str(o/'run') and 'run: ' in out
        s = json.loads((o/'run'/'summary.json').read_text())
        steps = [r for r in map(json.loads, (o/'run'/'metrics.jsonl').read_text().splitlines()) if 'loss' in r]
        assert s['steps'] == 2 and s['method'] == 'fair' and len(steps) == 2
        assert all('loss_feedback' in r and 'loss_rationale' in r for r in steps)

        # the same command again: no teacher asked, the finished run left alone
        n, summary = len(server.log), (o/'run'/'summary.json').read_text()
        rc, out, err = run(capsys, *args(d))
        assert rc == 0, err
        assert len(server.log) == n and (o/'run'/'summary.json').read_text() == summary
        assert 'already finished with this config' in err
        rep = json.loads((o/'report.json').read_text())
        assert rep['answered_now'] == 0 and sum(s['asked'] for s in rep['requests']['rationales'].values()) == 0

        # fewer questions make another corpus: the finished run is not resumed on it
        rc, out, err = run(capsys, *args(d, '--limit', '3'))
        assert rc == 2 and 'this run was trained on another corpus' in err and '--train.name NEW' in err, err
        assert len(server.log) == n


def test_killed_round_resumes_from_the_cache(files, capsys):
    "A round killed while teachers answer re-asks only what it had not received."
    d, golds = files
    with FaultyProxy(answer=committee(golds), faults={4: ('hang', 8)}) as server:
        teachers_file(d/'teachers.yaml', server.base_url)
        cmd = [sys.executable, '-c', 'import sys; from compact_nb.teachers.fair_round import cli_fair_round; '
                                     'sys.exit(cli_fair_round(sys.argv[1:]))', *map(str, args(d, '--train', 'false'))]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false'})
        cache, t0 = d/'out'/'teachers.cache.jsonl', time.monotonic()
        while time.monotonic() - t0 < 120 and p.poll() is None and not (cache.exists() and len(cache.read_text().splitlines()) >= 3):
            time.sleep(0.05)
        p.kill()
        _, err = p.communicate()
        assert p.returncode == -9, err.decode()[-2000:] # killed mid-way, not finished
        answered = {(e['teacher'], e['request']['messages'][-1]['content']) for e in map(json.loads, cache.read_text().splitlines())
                    if e['status'] == 'ok'}
        n = len(server.log)
        server.faults = {}
        rc, out, err = run(capsys, *args(d, '--train', 'false'))
        assert rc == 0, err
        again = {(b['model'], b['messages'][-1]['content']) for b in server.chat_bodies(n)}
        assert answered and again and not (answered & again)
    rep = json.loads((d/'out'/'report.json').read_text())
    assert rep['status'] == 'corpus written' and rep['run'] is None and not (d/'out'/'run').exists()
    assert all(s['feedback'] == rep['wrong'] for s in rep['teachers'].values())


@pytest.mark.parametrize('change,message', [
    (dict(teachers='nope.yaml'), 'nope.yaml: config file not found'),
    (dict(questions='empty.jsonl'), 'empty.jsonl: no questions'),
    (dict(student='no/such/student'), "unknown student 'no/such/student'"),
    (dict(student='no-such-model-anywhere'), "unknown student 'no-such-model-anywhere': not a local file or folder"),
    (dict(extra=['--teachers', 'a']), "needs a committee of two or more teachers; the round has ['a']"),
    (dict(extra=['--threshold', '5']), 'threshold must be in [0, 5)'),
    (dict(extra=['--train.student', 'tiny']), '--train.student: a FAIR round sets the training student itself'),
    (dict(extra=['--train.method', 'compact']), "training method 'compact': a FAIR round trains the fair method"),
])
def test_bad_input_is_refused_before_anything_loads(files, capsys, monkeypatch, change, message):
    d, _ = files
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.chdir(d)
    teachers_file(d/'teachers.yaml', 'http://127.0.0.1:9/v1')
    (d/'empty.jsonl').write_text('')
    argv = ['--student', change.get('student', 'tiny'), '--teachers-file', change.get('teachers', 'teachers.yaml'),
            '--questions', change.get('questions', 'questions.jsonl'), '--out', 'out', *change.get('extra', [])]
    rc, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith('compact_nb fair-round: error: ') and message in lines[0], err
    assert not (d/'out').exists()


# questions a 135M model can answer: SmolLM2-135M (4-bit) gets none of 'has 2, buys 3 more' right, but restates a count
EASY = [('Sam has 7 apples. How many apples does Sam have?', '7'), ('A box holds 4 pens. How many pens does the box hold?', '4'),
        ('Ben has 3 marbles. How many marbles does Ben have?', '3'), ('There are 6 birds on a tree. How many birds are on the tree?', '6'),
        ('Mia has 9 stickers. How many stickers does Mia have?', '9')]
SYSTEM = ('You are a math teacher. Example:\nQuestion: Ann has 1 cup and gets 2 more cups. How many cups does Ann have?\n'
          'Answer: 1 + 2 = 3. The answer is 3.\nAnswer the same way: one short line.')
SCORE_LAST = re.compile(r'\n\[[1-5]\]$')


@pytest.mark.slow
def test_round_against_llama_server(smol_server, tmp_path, capsys):
    """Student answers, teacher feedback, peer review, corpus and training against a real OpenAI-compatible server:
    three SmolLM2-135M 'teachers' (one greedy, two sampled) on llama-cpp-python's server, five one-step questions, the
    tiny student. SmolLM2-135M does not end a review with the bracketed score the prompt asks for, so the committee's
    `review_extra_body` gives llama.cpp a grammar that does: every review then counts, and with --threshold 0 every
    reviewed rationale is accepted."""
    write_corpus([Example(q, g, 'numeric', qid=f'q{i}') for i, (q, g) in enumerate(EASY)], tmp_path/'questions.jsonl')
    grammar = 'root ::= reason "\\n[" [1-5] "]"\nreason ::= [^\\n\\[]{5,120}'
    with FaultyProxy(smol_server.base_url) as proxy:
        (tmp_path/'teachers.yaml').write_text(yaml.safe_dump({
            'defaults': {'base_url': proxy.base_url, 'model': 'smollm2-135m', 'timeout': 300, 'max_retries': 0, 'concurrency': 2,
                         'review_max_tokens': 96, 'review_extra_body': {'grammar': grammar},
                         'system': SYSTEM},
            'teachers': [{'name': n, 'sampling': {'temperature': t, 'max_tokens': 96, 'seed': seed}}
                         for n, t, seed in (('greedy', 0.0, 0), ('warm', 0.7, 1), ('hot', 0.9, 2))]}))
        t0 = time.monotonic()
        rc, out, err = run(capsys, *args(tmp_path, '--threshold', '0'))
        wall = time.monotonic() - t0
        bodies = proxy.chat_bodies()
    assert rc == 0, err
    rep = json.loads((tmp_path/'out'/'report.json').read_text())
    print(f"\nround against llama.cpp: {wall:.1f} s, {len(bodies)} requests; " +
          ', '.join(f"{t}: {s['correct']}/{s['rationales']} right, {s['accepted']} accepted" for t, s in rep['teachers'].items()))
    assert rep['wrong'] == 5 and rep['with_feedback'] == 5 # the untrained tiny student gets every question wrong
    reviews = [b for b in bodies if b['messages'][-1]['content'].startswith('You are reviewing')]
    others = [b for b in bodies if not b['messages'][-1]['content'].startswith('You are reviewing')]
    assert len(others) == 5 * 3 * 2 # an explanation and a rationale per question and teacher
    assert all(b['grammar'] == grammar and b['max_tokens'] == 96 for b in reviews) and not any('grammar' in b for b in others)
    right = sum(s['correct'] for s in rep['teachers'].values())
    assert right >= 1 and len(reviews) == 2 * right # the two other teachers review each right rationale
    texts = [e['text'] for e in map(json.loads, (tmp_path/'out'/'teachers.cache.jsonl').read_text().splitlines()) if e['kind'] == 'review']
    assert len(texts) == len(reviews) and all(SCORE_LAST.search(t) for t in texts)
    assert all(s['reviewed'] == s['correct'] == s['accepted'] for s in rep['teachers'].values())
    corpus = read_corpus(tmp_path/'out'/'fair_round.jsonl')
    assert rep['status'] == 'trained' and len(corpus) == rep['corpus_questions'] >= 1
    assert all(len(r.meta['peer_scores']) == 2 and set(r.meta['mistake']['feedback']) == {'greedy', 'warm', 'hot'}
               for e in corpus for rs in e.rationales.values() for r in rs)
    s = json.loads((tmp_path/'out'/'run'/'summary.json').read_text())
    assert s['steps'] == 2 and s['method'] == 'fair'
