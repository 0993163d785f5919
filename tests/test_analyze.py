"""`compact_nb analyze` as a user runs it (`python -m compact_nb.cli` in a subprocess) on tiny students: a run trained by
`compact_nb train --student tiny`, a run whose adapter is still at its initialisation (so equal to the base), and
`base=tiny`; its files and numbers, its one-line refusals before any model loads, and the real SVAMP/CSQA sets when
the shared data is there."""
import dataclasses, json, os, subprocess, sys
from pathlib import Path
import pytest
from compact_nb.evaluation.analyze_cli import AnalyzeConfig, analyze_plan, analyze_argv
from compact_nb.config import parse_config
from compact_nb.data.corpus import write_corpus
from compact_nb.data.testbed import toy_corpus
from compact_nb.student.tiny import tiny_examples

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false'}
PNG = b'\x89PNG\r\n\x1a\n'

def cli(*args, cwd=ROOT, timeout=600):
    "`python -m compact_nb.cli ARGS` (in the repository root unless `cwd`)."
    return subprocess.run([sys.executable, '-m', 'compact_nb.cli', *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "Tiny ID/OOD eval files, a tiny run trained for 4 steps, and a tiny run with an untrained (zero) adapter."
    d = tmp_path_factory.mktemp('analyze')
    write_corpus(toy_corpus(10, seed=1), d/'toy_id.jsonl')
    write_corpus(tiny_examples(10, seed=2), d/'toy_ood.jsonl')
    r = cli('train', '--student', 'tiny', '--n-questions', '4', '--max-steps', '4', '--batch-size', '2', '--max-length', '160',
            '--lr', '1e-2', '--lora-dropout', '0', '--report-to', 'none', '--save-steps', '100', '--runs-dir', d/'runs', '--name', 'trained')
    assert r.returncode == 0, r.stderr[-2000:]
    from compact_nb.train import load_run_student
    from compact_nb.train_config import TrainConfig
    model, tok = load_run_student(TrainConfig(student='tiny', lora_dropout=0.0)) # LoRA B = 0: the base itself
    model.save_pretrained(d/'runs'/'same'/'adapter'); tok.save_pretrained(d/'runs'/'same'/'adapter')
    (d/'runs'/'same'/'config.json').write_text(json.dumps({'student': 'tiny', 'seed': 0, 'name': 'same'}))
    return d

def sets(d): return ['--id-set', d/'toy_id.jsonl', '--ood-set', d/'toy_ood.jsonl']

def test_help_documents_every_option():
    r = cli('analyze', '--help')
    assert r.returncode == 0, r.stderr
    text = ' '.join(r.stdout.split())
    for f in dataclasses.fields(AnalyzeConfig): assert '--' + f.name.replace('_', '-') in text, f.name
    assert 'analyze' in cli('--help').stdout

def test_end_to_end_on_tiny_runs(work):
    out = work/'out'
    r = cli('analyze', '--models', 'base=tiny', f"same={work/'runs'/'same'}", f"trained={work/'runs'/'trained'}", *sets(work),
            '--limit', '6', '--mi-questions', '2', '--max-new-tokens', '16', '--device', 'cpu', '--out', out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        'mi_q0.png', 'mi_q1.png', 'mi_trajectories.json', 'mi_trajectories.md', 'pca_last_layer.png', 'pca_shift.json',
        'pca_shift.md', 'pca_shift.png', 'pca_shift_same.png', 'pca_shift_trained.png']
    assert all(p.read_bytes()[:8] == PNG for p in out.glob('*.png'))
    pj = json.loads((out/'pca_shift.json').read_text())
    assert pj['models'] == ['base', 'same', 'trained'] and pj['base'] == 'base'
    assert pj['layers'] == 3 and pj['layer_names'] == ['embeddings', 'layer 1', 'layer 2 (final norm)'] # 2 decoder layers + embeddings
    assert pj['set_labels']['id'].startswith('toy_id: first 6 of 10 questions')
    for m in ('base', 'same'):
        for s in ('id', 'ood'): assert max(pj['shift'][m][s]) < 1e-6, (m, s, pj['shift'][m][s])
    assert all(x > 1e-4 for s in ('id', 'ood') for x in pj['shift']['trained'][s][1:]), pj['shift']['trained']
    assert pj['shift']['trained']['id'][0] == 0 # the embeddings carry no LoRA
    assert all(len(p) == 6 and len(p[0]) == 2 for m in pj['models'] for p in pj['last_layer'][m].values())
    md = (out/'pca_shift.md').read_text()
    assert '| layer | base | same | trained | base variance on PC1–2 |' in md and md.count('| layer 2 (final norm) |') == 2
    mj = json.loads((out/'mi_trajectories.json').read_text())['trajectories']
    assert list(mj) == ['base', 'same', 'trained'] and all(len(v) == 2 for v in mj.values())
    for v in mj.values():
        for e in v:
            assert e['gain'][0] == 0.0 and len(e['info']) == len(e['gain']) == len(e['tokens']) + 1 == len(e['thinking']) + 1
    assert mj['same'] == mj['base'] # same weights: same rationale, same trajectory, bit for bit
    assert [e['qid'] for e in mj['trained']] == [e.qid for e in toy_corpus(10, seed=1)[:2]]
    assert '| trained | 2 |' in (out/'mi_trajectories.md').read_text()
    # a second, smaller analysis in the same folder leaves no figure of the first behind
    r = cli('analyze', '--models', 'base=tiny', f"trained={work/'runs'/'trained'}", *sets(work), '--analyses', 'mi',
            '--limit', '6', '--mi-questions', '1', '--max-new-tokens', '8', '--device', 'cpu', '--out', out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.glob('mi_q*.png')) == ['mi_q0.png']
    assert list(json.loads((out/'mi_trajectories.json').read_text())['trajectories']) == ['base', 'trained']

def test_space_and_comma_separated_models_agree(work):
    a = parse_config(AnalyzeConfig, analyze_argv(['--models', 'base=tiny', f"t={work/'runs'/'trained'}", *map(str, sets(work))]))
    b = parse_config(AnalyzeConfig, analyze_argv([f"--models=base=tiny,t={work/'runs'/'trained'}", *map(str, sets(work))]))
    assert a == b and analyze_plan(a)['tiny_run'] == work/'runs'/'trained'

def _bad_cases(d:Path)->dict:
    "name -> (arguments, the error after 'compact_nb analyze: error: ')."
    (d/'afile').write_text('')
    (d/'tinybase').mkdir(exist_ok=True)
    from compact_nb.student.tiny import tiny_tokenizer, tiny_model
    tok = tiny_tokenizer()
    tok.save_pretrained(d/'tinybase'); tiny_model(tokenizer=tok).save_pretrained(d/'tinybase')
    trained = d/'runs'/'trained'
    return {
        'unknown model folder': (['--models', 'base=tiny', 'x=runs/nothere', *sets(d)], "no such model file or folder: runs/nothere"),
        'unknown set': (['--models', 'base=tiny', '--id-set', 'nope', '--ood-set', d/'toy_ood.jsonl'], "nope: unknown benchmark 'nope'"),
        'limit below 1': (['--models', 'base=tiny', *sets(d), '--limit', '0'], 'command line: limit must be >= 1, got 0'),
        'unknown analysis': (['--models', 'base=tiny', *sets(d), '--analyses', 'pca', 'tsne'], "command line: analyses must be pca and/or mi, got 'tsne'"),
        'two names': (['--models', 'base=tiny', f'a={trained}', f'a={trained}', *sets(d)], "command line: models: two models are named 'a'"),
        'tiny run on another base': (['--models', f"base={d/'tinybase'}", f't={trained}', *sets(d)],
                                     f"{trained}: was trained from 'tiny', the base here is '{d/'tinybase'}': their vocabularies differ (give base=tiny)"),
        'out is a file': (['--models', 'base=tiny', *sets(d), '--out', d/'afile'], f"{d/'afile'}: --out must be a folder; this is a file"),
    }

@pytest.mark.parametrize('case', ['unknown model folder', 'unknown set', 'limit below 1', 'unknown analysis', 'two names',
                                  'tiny run on another base', 'out is a file'])
def test_bad_input_is_one_line_before_any_model_loads(case, work):
    argv, msg = _bad_cases(work)[case]
    out = work/'bad-out'
    r = cli('analyze', *argv, *(['--out', out] if '--out' not in argv else []), cwd=work)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr.startswith(f"compact_nb analyze: error: {msg}"), r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    assert r.stdout == '' and not out.exists() # no model loaded ('<name>: done in'), nothing written

def test_real_sets(work, shared):
    "SVAMP test (ID) and CSQA (OOD) from the shared data, read by the tiny students."
    plan = analyze_plan(AnalyzeConfig(models=['base=tiny']))
    assert [len(plan['sets'][s]) for s in ('id', 'ood')] == [64, 64] and len(plan['mi']) == 4
    assert plan['sets']['id'].name == 'svamp' and plan['sets']['ood'].name == 'csqa' and plan['sets']['ood'][0].choices
    out = work/'real'
    r = cli('analyze', '--models', 'base=tiny', f"trained={work/'runs'/'trained'}", '--limit', '8', '--mi-questions', '1',
            '--max-new-tokens', '8', '--device', 'cpu', '--out', out)
    assert r.returncode == 0, r.stderr[-3000:]
    pj = json.loads((out/'pca_shift.json').read_text())
    assert pj['set_names'] == {'id': 'svamp', 'ood': 'csqa'} and len(pj['last_layer']['trained']['ood']) == 8
    mj = json.loads((out/'mi_trajectories.json').read_text())['trajectories']
    assert mj['base'][0]['qid'] == plan['sets']['id'][0].qid
