"""Nothing lost to a kill, a full disk or a second process (issue 33): one test per case, the fault injected by the
test — files truncated, cut or edited, `OSError(ENOSPC)` at the write with `unittest.mock`, SIGINT and SIGKILL sent to
a child running `compact_nb train --student tiny`, a second process started on the same folder. Each resumed run must
end where an uninterrupted one ends (the `weights_checksum` of its adapter)."""
import builtins, errno, json, os, random, resource, shutil, signal, subprocess, sys, time, tracemalloc, warnings
from pathlib import Path
from unittest import mock
import pytest
from compact_nb.data.core import DataError

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--student', 'tiny', '--n-questions', '16', '--epochs', '2', '--batch-size', '2', '--max-length', '160',
        '--save-steps', '4', '--save-total-limit', '5', '--lr', '1e-3', '--lora-dropout', '0', '--report-to', 'none']
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

def env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1', 'PYTHONPATH': str(ROOT)}

def train_cmd(runs, name, *extra):
    return [sys.executable, '-m', 'compact_nb.cli', 'train', *TINY, '--runs-dir', str(runs), '--name', name, *extra]

def run_train(runs, name, *extra, timeout=600):
    return subprocess.run(train_cmd(runs, name, *extra), capture_output=True, text=True, env=env(), timeout=timeout, cwd=ROOT)

class one_thread:
    "torch on one thread inside the block, as `env()` runs the subprocesses: a run's float sums follow its thread count."
    def __enter__(self):
        import torch
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)
    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.n)

def summary(run):
    return json.loads((Path(run)/'summary.json').read_text())

def steps(run):
    return [json.loads(l)['step'] for l in (Path(run)/'metrics.jsonl').read_text().splitlines() if 'loss' in json.loads(l)]

def dead_pid():
    "The pid of a process that has ended."
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()
    return p.pid

@pytest.fixture(scope='module')
def ref(tmp_path_factory):
    "An uninterrupted tiny COMPACT run: 16 steps, checkpoints 4, 8, 12 and 16 kept."
    runs = tmp_path_factory.mktemp('ref')
    r = run_train(runs, 'ref')
    assert r.returncode == 0, r.stderr[-3000:]
    return runs/'ref'

def killed_copy(ref, runs, name, last=12):
    """`ref` as a kill after step 16 was logged but before checkpoint 16 was saved leaves it: no adapter or summary,
    checkpoints up to `last`, the metrics of steps 1-16, and the dead process's lock file."""
    run = Path(runs)/name
    shutil.copytree(ref, run)
    for p in ('summary.json', 'adapter', 'plots'): shutil.rmtree(run/p) if (run/p).is_dir() else (run/p).unlink()
    for ck in (run/'checkpoints').glob('checkpoint-*'):
        if int(ck.name.split('-')[1]) > last: shutil.rmtree(ck)
    m = run/'metrics.jsonl' # no end-of-training record: the run never got there
    m.write_text(''.join(l + '\n' for l in m.read_text().splitlines() if 'loss' in json.loads(l)))
    (run/'train.lock').write_text(json.dumps(dict(pid=dead_pid(), command='compact_nb train')))
    return run

def assert_same_result(run, ref, resumed_from):
    s = summary(run)
    assert s['resumed_from'].endswith(resumed_from), s['resumed_from']
    assert s['steps'] == 16 and steps(run) == list(range(1, 17))
    assert s['weights_checksum_per_process'] == summary(ref)['weights_checksum_per_process']

# ---------------------------------------------------------------- 1. a kill while metrics.jsonl is written

def test_torn_metrics_line_is_dropped_and_the_run_resumes(ref, tmp_path):
    run = killed_copy(ref, tmp_path, 'torn')
    m = run/'metrics.jsonl'
    text = m.read_text()
    m.write_text(text[:len(text) - len(text.splitlines()[-1]) // 2 - 1]) # the last line cut in the middle, no newline
    r = run_train(tmp_path, 'torn')
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{m}: line 16 is cut short" in r.stderr and 'dropped' in r.stderr
    assert 'took over a stale lock' in r.stderr and not (run/'train.lock').exists()
    assert_same_result(run, ref, 'checkpoint-12')

def test_read_metrics_drops_a_torn_last_line_and_names_a_bad_one(tmp_path):
    from compact_nb.train import read_metrics
    m = tmp_path/'metrics.jsonl'
    m.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    with pytest.warns(UserWarning, match=f"{m}: line 3 is cut short"): assert [r['step'] for r in read_metrics(m)] == [1, 2]
    m.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo\n{"step": 3, "loss": 1.0}\n')
    with pytest.raises(DataError, match=f"{m}:2: malformed JSON"): read_metrics(m)

# ---------------------------------------------------------------- 2, 3. the last checkpoint truncated or without its weights

@pytest.mark.parametrize('name,fault', [('optimizer.pt', 'truncate'), ('adapter_model.safetensors', 'truncate'),
                                        ('adapter_model.safetensors', 'delete')])
def test_broken_last_checkpoint_falls_back_to_the_one_before(ref, tmp_path, name, fault):
    run = killed_copy(ref, tmp_path, 'broken')
    f = run/'checkpoints'/'checkpoint-12'/name
    if fault == 'truncate': os.truncate(f, f.stat().st_size // 2)
    else: f.unlink()
    r = run_train(tmp_path, 'broken')
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{run/'checkpoints'/'checkpoint-12'}: incomplete checkpoint" in r.stderr and name in r.stderr
    assert_same_result(run, ref, 'checkpoint-8')

# ---------------------------------------------------------------- 6. Ctrl-C

def test_ctrl_c_is_one_line_exit_130_and_the_run_resumes(tmp_path):
    run, longer = tmp_path/'int', ('--epochs', '8') # 64 steps: on a loaded machine the signal still finds the run mid-way
    # SIGINT as a terminal delivers it: a shell that starts a job in the background without job control (CI's, nohup's)
    # makes it ignore SIGINT, and an ignored signal stays ignored in the child
    p = subprocess.Popen(train_cmd(tmp_path, 'int', *longer), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while not ((run/'checkpoints'/'checkpoint-4'/'trainer_state.json').exists() and (run/'metrics.jsonl').exists()
               and max(steps(run), default=0) >= 5):
        assert p.poll() is None, p.stderr.read()[-3000:]
        assert time.time() - t0 < 300
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    assert p.wait(60) == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err
    assert err.rstrip().splitlines()[-1] == (f"compact_nb train: interrupted: {run} resumes from its last complete "
                                             "checkpoint when the same command runs again")
    assert not (run/'train.lock').exists() and not (run/'summary.json').exists()
    r = run_train(tmp_path, 'int', *longer)
    assert r.returncode == 0, r.stderr[-3000:]
    assert run_train(tmp_path, 'int-ref', *longer).returncode == 0 # the same run, uninterrupted
    s = summary(run)
    assert s['steps'] == 64 and steps(run) == list(range(1, 65))
    assert s['weights_checksum_per_process'] == summary(tmp_path/'int-ref')['weights_checksum_per_process']

# ---------------------------------------------------------------- 7. a nested JSON record

DEEP = '[' * 100_000 + ']' * 100_000

def test_deeply_nested_json_in_a_corpus_or_eval_file_is_named_by_file_and_line(tmp_path):
    from compact_nb.data.corpus import read_corpus
    from compact_nb.data.benchmarks import load_benchmark
    ok = json.dumps(dict(question='2+2?', answer='4', rationales=[dict(teacher='a', text='2+2=4')]))
    c = tmp_path/'corpus.jsonl'
    c.write_text(ok + '\n' + '{"question": "q", "answer": "1", "rationales": ' + DEEP + '}\n')
    with pytest.raises(DataError, match=f"^{c}:2: JSON nested too deeply"): read_corpus(c)
    e = tmp_path/'mine.jsonl'
    e.write_text(ok + '\n' + '{"question": "q", "answer": ' + DEEP + '}\n')
    with pytest.raises(DataError, match=f"^{e}:2: JSON nested too deeply"): load_benchmark(str(e))
    j = tmp_path/'mine.json'
    j.write_text('[' + ok + ',\n' + DEEP + ']\n')
    with pytest.raises(DataError, match=f"^{j}: JSON nested too deeply"): load_benchmark(str(j))
    a = tmp_path/'authors.json'
    a.write_text(DEEP)
    with pytest.raises(DataError, match=f"^{a}: JSON nested too deeply"): read_corpus(a)

# ---------------------------------------------------------------- 8. a corpus that is one endless line

def test_endless_line_is_refused_in_bounded_memory(tmp_path):
    from compact_nb.data import corpus
    limit = getattr(corpus, 'MAX_LINE_BYTES', 16 * 2**20)
    c = tmp_path/'endless.jsonl'
    with open(c, 'wb') as f:
        f.write(b'{"question": "' + b'x' * (4 * limit)) # no newline, ever
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"^{c}:1: line longer than {limit} bytes"): corpus.read_corpus(c)
        peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert peak < 2.5 * limit, peak
    # a line of exactly the limit is read
    head = b'{"question": "q", "answer": "1", "pad": "'
    c.write_bytes(head + b'x' * (limit - len(head) - 2) + b'"}\n')
    assert [(n, len(t)) for n, t in corpus.corpus_lines(c)] == [(1, limit + 1)]

# ---------------------------------------------------------------- 10. a second process on the same run folder or --out

def test_second_train_on_the_same_run_refuses_at_once(ref, tmp_path):
    run = tmp_path/'dup'
    a = subprocess.Popen(train_cmd(tmp_path, 'dup'), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    t0 = time.time()
    while not ((run/'metrics.jsonl').exists() and steps(run)):
        assert a.poll() is None, a.stderr.read()[-3000:]
        assert time.time() - t0 < 300
        time.sleep(0.02)
    a.send_signal(signal.SIGSTOP) # the first run holds its lock, paused mid-training
    try:
        t0 = time.time()
        b = run_train(tmp_path, 'dup', timeout=120)
        took = time.time() - t0
        lock = json.loads((run/'train.lock').read_text())
    finally: a.send_signal(signal.SIGCONT)
    assert b.returncode == 2, b.stderr[-3000:]
    assert f"compact_nb train: error: {run/'train.lock'}: compact_nb train (pid {a.pid}, since" in b.stderr
    assert lock['pid'] == a.pid and took < 60
    assert a.wait(300) == 0, a.stderr.read()[-3000:]
    assert steps(run) == list(range(1, 17)) # one run's steps, nothing interleaved
    assert summary(run)['weights_checksum_per_process'] == summary(ref)['weights_checksum_per_process']

def test_second_eval_into_the_same_out_refuses_at_once(tmp_path):
    from compact_nb.data.corpus import write_corpus
    from compact_nb.student.tiny import tiny_model, tiny_tokenizer, tiny_examples
    from compact_nb.locks import RunLock
    tok = tiny_tokenizer(); tiny_model(tokenizer=tok).save_pretrained(tmp_path/'tiny'); tok.save_pretrained(tmp_path/'tiny')
    write_corpus(tiny_examples(4, seed=1), tmp_path/'toy.jsonl')
    out = tmp_path/'out'
    cmd = [sys.executable, '-m', 'compact_nb.cli', 'eval', '--model', str(tmp_path/'tiny'), '--benchmarks', str(tmp_path/'toy.jsonl'),
           '--max-new-tokens', '4', '--progress', 'false', '--device', 'cpu', '--out', str(out)]
    with RunLock(out/'eval.lock', 'compact_nb eval'): # another evaluation holds the folder
        r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300, cwd=ROOT)
    assert r.returncode == 2, r.stderr[-3000:]
    assert f"compact_nb eval: error: {out/'eval.lock'}: compact_nb eval (pid {os.getpid()}, since" in r.stderr
    assert not (out/'eval'/'toy.jsonl').exists()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300, cwd=ROOT) # the folder free again
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (out/'eval.lock').exists()

# ---------------------------------------------------------------- 12. trainer_state.json edited by hand

@pytest.mark.parametrize('edit,message', [
    (lambda s: s.update(global_step=4), 'global_step 4, but the folder is checkpoint-12'),
    (lambda s: s.update(max_steps=100), 'max_steps 100, but config.json gives 16'),
    (lambda s: s.update(train_batch_size=8), 'train_batch_size 8, but config.json gives 2'),
    (lambda s: s['log_history'][2].update(loss=0.125), 'the loss at step 3 is 0.125 in its log_history, '),
])
def test_edited_trainer_state_is_refused(ref, tmp_path, edit, message):
    run = killed_copy(ref, tmp_path, 'edited')
    f = run/'checkpoints'/'checkpoint-12'/'trainer_state.json'
    state = json.loads(f.read_text()); edit(state); f.write_text(json.dumps(state, indent=2))
    r = run_train(tmp_path, 'edited')
    assert r.returncode == 2, r.stderr[-3000:]
    assert f"compact_nb train: error: {f} does not match this run (" in r.stderr and message in r.stderr, r.stderr[-2000:]
    assert not (run/'summary.json').exists() and steps(run) == list(range(1, 17)) # nothing trained, nothing cut

# ---------------------------------------------------------------- 5. a full disk during evaluation

class HalfWritten:
    "A file that takes half of one write, flushes it, then reports a full disk; every other call goes to `f`."
    def __init__(self, f, fail_at:int):
        self.f, self.calls, self.fail_at = f, 0, fail_at
    def write(self, data):
        self.calls += 1
        if self.calls == self.fail_at:
            self.f.write(data[:len(data) // 2]); self.f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)
    def __getattr__(self, k): return getattr(self.f, k)
    def __enter__(self): return self
    def __exit__(self, *exc): return self.f.__exit__(*exc)
    def __iter__(self): return iter(self.f)

def disk_full_at(target, fail_at:int, modes='a'):
    "Patch `open` so that the `fail_at`-th write to a file whose path contains `target` (opened in one of `modes`) runs out of space."
    real, count = builtins.open, {'n': 0}
    def fake(file, mode='r', *a, **kw):
        f = real(file, mode, *a, **kw)
        if str(target) not in str(file) or not any(m in mode for m in modes): return f
        h = HalfWritten(f, fail_at - count['n'])
        orig = h.write
        def write(data):
            count['n'] += 1
            return orig(data)
        h.write = write
        return h
    return mock.patch('builtins.open', fake)

def test_full_disk_during_evaluation_names_the_file_and_resumes(tmp_path, capsys):
    from compact_nb.data.corpus import write_corpus
    from compact_nb.evaluation.generation import cli_eval
    from compact_nb.evaluation.records import read_records
    from compact_nb.student.tiny import tiny_model, tiny_tokenizer, tiny_examples
    tok = tiny_tokenizer(); tiny_model(tokenizer=tok).save_pretrained(tmp_path/'tiny'); tok.save_pretrained(tmp_path/'tiny')
    write_corpus(tiny_examples(8, seed=3), tmp_path/'toy.jsonl')
    common = ['--model', str(tmp_path/'tiny'), '--benchmarks', str(tmp_path/'toy.jsonl'), '--batch-size', '2',
              '--max-new-tokens', '6', '--progress', 'false', '--device', 'cpu']
    assert cli_eval([*common, '--out', str(tmp_path/'ref')]) == 0
    rec = tmp_path/'full'/'eval'/'toy.jsonl'
    capsys.readouterr()
    with disk_full_at(rec, fail_at=3): # the third record appended
        assert cli_eval([*common, '--out', str(tmp_path/'full')]) == 2
    err = capsys.readouterr().err
    assert f"compact_nb eval: error: {rec}: cannot write the records (No space left on device)" in err, err
    lines = rec.read_text().splitlines()
    assert lines and all(json.loads(l) for l in lines) and len(read_records(rec)) == len(lines) # whole records only
    assert not (tmp_path/'full'/'eval.lock').exists()
    assert cli_eval([*common, '--out', str(tmp_path/'full')]) == 0
    assert rec.read_text() == (tmp_path/'ref'/'eval'/'toy.jsonl').read_text()

def test_full_disk_writing_the_settings_or_summary_leaves_the_old_file(tmp_path):
    from compact_nb.evaluation.records import open_records, meta_path
    from compact_nb.data.core import Example
    exs = [Example(f"question {i}", '1', 'numeric', qid=f"q{i}") for i in range(2)]
    out = tmp_path/'eval'/'b.jsonl'
    with disk_full_at(meta_path(out).name, fail_at=1, modes='wx'):
        with pytest.raises(OSError, match=f"{meta_path(out)}: cannot write"): open_records(out, exs, dict(model='A'))
    assert not meta_path(out).exists() # never a torn settings file (that would block every resume)
    assert open_records(out, exs, dict(model='A'))[1] == {}

# ---------------------------------------------------------------- 4. a full disk during training

def test_full_disk_writing_a_checkpoint_names_it_and_resumes(ref, tmp_path, capsys):
    import torch
    from compact_nb.train import cli_train
    real = torch.save
    def save(obj, f, *a, **kw):
        if str(f).endswith(os.path.join('checkpoint-8', 'optimizer.pt')):
            Path(f).write_bytes(b'PK\x03\x04 half an archive')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *a, **kw)
    argv = [*TINY, '--runs-dir', str(tmp_path), '--name', 'full']
    with mock.patch('torch.save', save), one_thread(): assert cli_train(argv) == 2
    ck = tmp_path/'full'/'checkpoints'/'checkpoint-8'
    err = capsys.readouterr().err
    assert f"compact_nb train: error: {ck}: cannot write the checkpoint (No space left on device)" in err, err[-2000:]
    assert not ck.exists() and not (tmp_path/'full'/'train.lock').exists() # nothing half-written left
    r = run_train(tmp_path, 'full')
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_result(tmp_path/'full', ref, 'checkpoint-4')

def test_full_disk_writing_metrics_names_the_file_and_resumes(ref, tmp_path, capsys):
    from compact_nb.train import cli_train
    m = tmp_path/'full'/'metrics.jsonl'
    with disk_full_at(m, fail_at=10), one_thread(): assert cli_train([*TINY, '--runs-dir', str(tmp_path), '--name', 'full']) == 2
    err = capsys.readouterr().err
    assert f"compact_nb train: error: {m}: cannot write the metrics (No space left on device)" in err, err[-2000:]
    assert steps(tmp_path/'full') == list(range(1, 10)) # whole lines only
    r = run_train(tmp_path, 'full')
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_result(tmp_path/'full', ref, 'checkpoint-8')

# ---------------------------------------------------------------- 9. a YAML bomb

def chain(levels=9, width=10)->str:
    "A flow list of `levels` lists, each `width` aliases of the one before: the last expands to width**levels strings."
    parts = ['&a0 [' + ', '.join(['lol'] * width) + ']']
    parts += [f'&a{i} [' + ', '.join([f'*a{i - 1}'] * width) + ']' for i in range(1, levels)]
    return '[' + ', '.join(parts) + ']'

def limited():
    "At most 4 GiB of address space for the child: a bomb that gets through fails instead of eating the machine."
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

def test_yaml_bomb_is_refused_in_bounded_time(tmp_path):
    from compact_nb.config import load_config
    f = tmp_path/'bomb.yaml'
    f.write_text(f'teachers: {chain()}\n')
    t0 = time.time()
    with pytest.raises(DataError, match=f"^{f}: .*alias"): load_config(f)
    assert time.time() - t0 < 5
    # a few anchors and aliases, as a hand-written config uses them, still load
    f.write_text('common: &c {lr: 1.0e-4}\nrun: *c\nteachers: &t [a, b]\nagain: *t\n')
    assert load_config(f)['run'] == {'lr': 1.0e-4}

@pytest.mark.parametrize('where', ['teachers', 'imports', 'generate'])
def test_yaml_bomb_through_the_command_line_is_one_line(tmp_path, where):
    f = tmp_path/'bomb.yaml'
    if where == 'generate': # a teacher's name
        f.write_text(f'teachers:\n  - {{name: {chain()}, model: m, base_url: "http://127.0.0.1:9/v1"}}\n')
        cmd = [sys.executable, '-m', 'compact_nb.cli', 'generate', '--teachers-file', str(f), '--questions', str(f),
               '--out', str(tmp_path/'c.jsonl')]
    else: # a config file's teachers, or its imports
        f.write_text(f'{where}: [{chain()}]\n')
        cmd = [sys.executable, '-m', 'compact_nb.cli', 'train', str(f), *TINY, '--runs-dir', str(tmp_path), '--name', 'b']
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=120, cwd=ROOT, preexec_fn=limited)
    assert r.returncode == 2, r.stderr[-3000:]
    assert r.stderr.count('\n') == 1 and f"{f}: " in r.stderr and 'alias' in r.stderr, r.stderr[-2000:]
    assert time.time() - t0 < 60

# ---------------------------------------------------------------- 11. two processes converting the student at once

CONVERT = r'''
import json, os, sys, time, warnings
from pathlib import Path
from unittest import mock
import transformers
from compact_nb.student.models import load_student
from compact_nb.student.tiny import tiny_model, tiny_tokenizer
real_model, real_tok = transformers.AutoModelForCausalLM.from_pretrained, transformers.AutoTokenizer.from_pretrained
marks = Path(sys.argv[2])
def fake_model(path, *a, gguf_file=None, **kw):
    if gguf_file is None: return real_model(path, *a, **kw)
    (marks/f"converted-{os.getpid()}").touch()
    time.sleep(3) # a slow conversion: the other process starts meanwhile
    return tiny_model(tokenizer=tiny_tokenizer())
def fake_tok(path, *a, gguf_file=None, **kw):
    return tiny_tokenizer() if gguf_file is not None else real_tok(path, *a, **kw)
(marks/f"started-{os.getpid()}").touch()
while len(list(marks.glob('started-*'))) < 2: time.sleep(0.01)
with mock.patch.object(transformers.AutoModelForCausalLM, 'from_pretrained', fake_model), \
     mock.patch.object(transformers.AutoTokenizer, 'from_pretrained', fake_tok), warnings.catch_warnings(record=True) as w:
    warnings.simplefilter('always')
    model, tok = load_student(sys.argv[1], device='cpu')
print(json.dumps(dict(cache=[str(x.message) for x in w if 'cache' in str(x.message)], params=sum(p.numel() for p in model.parameters()))))
'''

def test_two_processes_converting_the_student_write_the_cache_once(tmp_path):
    gguf = tmp_path/'student.gguf'
    gguf.write_bytes(b'GGUF not a real one: the conversion is mocked')
    marks = tmp_path/'marks'; marks.mkdir()
    e = {**env(), 'COMPACT_NB_CACHE': str(tmp_path/'cache')}
    ps = [subprocess.Popen([sys.executable, '-c', CONVERT, str(gguf), str(marks)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=e, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in ps]
    assert all(p.returncode == 0 for p in ps), [o[1][-2000:] for o in outs]
    res = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert [r['cache'] for r in res] == [[], []], res # no "could not cache ... Directory not empty"
    assert len(list(marks.glob('converted-*'))) == 1 # converted once; the other process read the cache
    assert res[0]['params'] == res[1]['params']
    students = tmp_path/'cache'/'students'
    cached = [p for p in students.iterdir()]
    assert len(cached) == 1 and (cached[0]/'config.json').exists(), cached # no temporary folder or lock file left

# ---------------------------------------------------------------- the kill loop

def logged_steps(run)->int:
    "The last step in a run's metrics.jsonl (0 when none), read as a kill may have left it (a torn last line)."
    m, last = Path(run)/'metrics.jsonl', 0
    for l in (m.read_text().splitlines() if m.exists() else []):
        try: last = max(last, json.loads(l).get('step', 0))
        except ValueError: pass
    return last

@pytest.mark.slow
def test_killed_at_random_times_five_times_ends_with_the_uninterrupted_adapter(tmp_path):
    """32 steps, SIGKILLed five times at a random moment after each restart has trained at least one more step (in a
    step, a metrics line or a checkpoint write), sometimes also while it starts up; then run to the end."""
    from safetensors.torch import load_file
    longer = ['--n-questions', '32']
    r = run_train(tmp_path, 'ref', *longer)
    assert r.returncode == 0, r.stderr[-3000:]
    rng = random.Random(33)
    run, kills = tmp_path/'loop', []
    while len(kills) < 5:
        if rng.random() < 0.3: # killed while it loads, before any step
            p = subprocess.Popen(train_cmd(tmp_path, 'loop', *longer), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT)
            time.sleep(rng.uniform(0.5, 3)); p.send_signal(signal.SIGKILL); p.wait()
        before = logged_steps(run)
        p = subprocess.Popen(train_cmd(tmp_path, 'loop', *longer), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT)
        t0 = time.time()
        while logged_steps(run) <= before and p.poll() is None:
            assert time.time() - t0 < 300
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.5)) # a tiny step takes about 0.1 s, a checkpoint about as long
        if p.poll() is not None: break # it finished first
        p.send_signal(signal.SIGKILL); p.wait()
        kills.append(logged_steps(run))
    assert len(kills) == 5, f"the run finished after {len(kills)} kills (at steps {kills}): make it longer"
    r = run_train(tmp_path, 'loop', *longer)
    assert r.returncode == 0, r.stderr[-3000:]
    s, s_ref = summary(run), summary(tmp_path/'ref')
    print(f"killed at steps {kills}; the last run resumed from {s['resumed_from']}")
    assert s['steps'] == 32 and steps(run) == list(range(1, 33)) and s['resumed_from'] is not None
    assert s['weights_checksum_per_process'] == s_ref['weights_checksum_per_process']
    a, b = load_file(run/'adapter'/'adapter_model.safetensors'), load_file(tmp_path/'ref'/'adapter'/'adapter_model.safetensors')
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
