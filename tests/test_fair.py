"""FAIR from the command line on the shipped committee data: the `fair:` data option for the FAIR method and for
another method, the counts the training data's filters leave, and a clear refusal of data without mistake feedback."""
import json, os, subprocess, sys
import pytest
from compact_nb.data.core import shared_data

pytestmark = pytest.mark.skipif(shared_data('fair') is None, reason='the FAIR committee files (shared/data/fair) are not on this machine')

def env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}

def train(tmp_path, name, *args):
    cmd = [sys.executable, '-m', 'compact_nb.cli', 'train', '--student', 'tiny', '--runs-dir', str(tmp_path), '--name', name,
           '--report-to', 'none', '--lora-dropout', '0', *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)

def test_fair_method_trains_on_fair_data(tmp_path):
    r = train(tmp_path, 'fair', '--data', 'fair:svamp', '--method', 'fair', '--max-steps', '2')
    assert r.returncode == 0, r.stderr[-2000:]
    run = tmp_path / 'fair'
    s = json.loads((run / 'summary.json').read_text())
    cfg = json.loads((run / 'config.json').read_text())
    recs = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines() if 'loss' in json.loads(l)]
    assert s['steps'] == 2 and s['method'] == 'fair'
    assert s['questions'] == 328  # the default filter_correct (last number of a FAIR rationale) keeps 328 of FAIR's 365 questions
    assert cfg['method'] == {'name': 'fair', 'feedback_weight': 0.5, 'accept_threshold': 3.0, 'sft_reduction': 'mean'}
    assert cfg['data_report']['load']['questions'] == 365 and cfg['data_report']['questions'] == 328
    assert len(recs) == 2
    for rec in recs:
        assert rec['loss'] == pytest.approx(0.5 * rec['loss_feedback'] + 0.5 * rec['loss_rationale'], rel=1e-4)
        drawn = [rec.get(f'rationale_from/{t}', 0) for t in cfg['teachers']]
        assert sum(drawn) == 2 and sum(rec.get(f'feedback_from/{t}', 0) for t in cfg['teachers']) == 2  # batch size 2

def test_another_method_trains_on_fair_data(tmp_path):
    r = train(tmp_path, 'avg', '--data', 'fair:svamp:all', '--filter-correct', 'false', '--method', 'uniform', '--max-steps', '1',
              '--teachers', 'gpt,gemini')
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'avg' / 'config.json').read_text())
    assert cfg['teachers'] == ['gpt-3.5-turbo', 'gemini-1.0-pro'] and cfg['data_report']['questions'] == 387

def test_fair_method_refuses_data_without_mistake_feedback(tmp_path):
    if shared_data('teachers') is None: pytest.skip('the EIT corpora (shared/data/teachers) are not on this machine')
    r = train(tmp_path, 'eit', '--data', 'eit:svamp', '--method', 'fair', '--max-steps', '1')
    assert r.returncode == 2, r.stderr[-2000:]
    assert 'the data has no mistake feedback' in r.stderr and '--data fair:svamp' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / 'eit').exists()  # refused before a model loads or a folder is made

def test_fair_counts_through_the_training_data():
    "What `training_examples` and the method's `select` keep of the SVAMP committee, with and without `filter_correct`."
    from compact_nb.train_config import TrainConfig, training_examples
    from compact_nb.methods.base import method_config, build_method
    def kept(**kw):
        cfg = TrainConfig(data='fair:svamp', method=method_config('fair'), **kw)
        exs, teachers, report = training_examples(cfg)
        m = build_method(cfg.method, teachers)
        sel, _ = m.select(exs, teachers)
        return len(exs), len(sel), m.selection['accepted'], report
    n, s, acc, rep = kept()
    assert (n, s, list(acc.values())) == (328, 328, [252, 198, 217])
    assert rep['filter_rule'] == 'extract' and [r['kept'] for r in rep['filter']] == [252, 198, 217]
    n, s, acc, rep = kept(filter_correct=False)
    assert (n, s, list(acc.values())) == (365, 365, [286, 221, 319])
    n, s, acc, rep = kept(filter_correct=False, teachers=['mistral'])
    assert (n, s, acc) == (319, 319, {'mixtral-8x7b': 319})
