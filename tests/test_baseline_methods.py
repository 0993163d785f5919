"""The SBS and MCC-KD baselines train from the command line on the tiny student, their options reach the run's config,
and the logged terms add up to the logged loss. The methods are imported with `--imports <module name>`."""
import json, os, subprocess, sys
import pytest

TINY = ['--student', 'tiny', '--n-questions', '8', '--max-steps', '2', '--batch-size', '2', '--max-length', '160',
        '--lora-dropout', '0', '--report-to', 'none', '--save-steps', '50']

def env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}

def train(runs, name, *extra):
    cmd = [sys.executable, '-m', 'compact_nb.cli', 'train', *TINY, '--runs-dir', str(runs), '--name', name, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)

def finished(run):
    "(summary, config, per-step metric records) of a finished run."
    recs = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines() if l.strip()]
    return (json.loads((run / 'summary.json').read_text()), json.loads((run / 'config.json').read_text()),
            [r for r in recs if 'loss' in r])

@pytest.mark.parametrize('choice', ['per_question', 'all'])
def test_sbs_trains_from_the_cli(tmp_path, choice):
    r = train(tmp_path, 'sbs', '--imports', 'compact_nb.methods.sbs', '--method', 'sbs', '--method.rationale_weight', '0.3',
              '--method.teacher_choice', choice)
    assert r.returncode == 0, r.stderr[-3000:]
    s, cfg, m = finished(tmp_path / 'sbs')
    from compact_nb.methods.sbs import LABEL_INSTRUCTION
    assert cfg['method'] == {'name': 'sbs', 'rationale_weight': 0.3, 'teacher_choice': choice,
                             'label_instruction': LABEL_INSTRUCTION, 'sft_reduction': 'mean', 'reading': 'answer',
                             'equation_teacher': 'human'}
    assert s['method'] == 'sbs' and s['steps'] == 2 and [x['step'] for x in m] == [1, 2]
    assert (tmp_path / 'sbs' / 'adapter' / 'adapter_model.safetensors').exists()
    for x in m: # the logged loss is the mixture of the logged task losses (one micro-batch per step)
        assert x['label'] > 0 and x['rationale'] > 0
        assert x['loss'] == pytest.approx(0.7 * x['label'] + 0.3 * x['rationale'], rel=1e-5)
        weights = [v for k, v in x.items() if k.startswith('alpha/')]
        assert len(weights) == len(cfg['teachers']) and all(0 <= w <= 1 for w in weights)

def test_mcckd_trains_from_the_cli(tmp_path):
    r = train(tmp_path, 'mcc', '--imports', 'compact_nb.methods.mcckd', '--method', 'mcckd', '--method.kl_weight', '0.5',
              '--method.max_overlap', '0.6')
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count('mcckd diversity filter (2-gram Jaccard > 0.6') == 1 # the filter's report, printed once
    s, cfg, m = finished(tmp_path / 'mcc')
    assert cfg['method'] == {'name': 'mcckd', 'kl_weight': 0.5, 'ngram': 2, 'max_overlap': 0.6, 'min_paths': 2,
                             'answer_span': 'gold', 'sft_reduction': 'mean', 'smooth': 0.0}
    assert s['method'] == 'mcckd' and s['steps'] == 2 and [x['step'] for x in m] == [1, 2]
    for x in m:
        assert x['kl'] > 0 and x['sft'] > 0
        assert x['loss'] == pytest.approx(x['sft'] + 0.5 * x['kl'], rel=1e-5)

def test_bad_options_are_refused_before_training(tmp_path):
    r = train(tmp_path, 'bad', '--imports', 'compact_nb.methods.mcckd', '--method', 'mcckd', '--method.max_overlap', '2')
    assert r.returncode == 2 and 'max_overlap must be in [0, 1]' in r.stderr and not (tmp_path / 'bad').exists()
    r = train(tmp_path, 'bad', '--imports', 'compact_nb.methods.sbs', '--method', 'sbs', '--method.rationale_weight', '-1')
    assert r.returncode == 2 and 'rationale_weight must be in [0, 1]' in r.stderr and not (tmp_path / 'bad').exists()
