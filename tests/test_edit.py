"""EDIT through `compact_nb train`, its module imported with --imports: the toy testbed with `corrupted` declared wrong
trains 4 steps (2 plain, 2 weighted); data whose wrong rationales the data filter removed is refused before anything is
written; and, when the EIT files are here, the number of pairs `eit:svamp` gives with filter_correct off."""
import json
import pytest
from compact_nb.data.core import shared_data
from compact_nb.train import cli_train, read_metrics

def args(tmp_path, *extra):
    return ['--student', 'tiny', '--data', 'toy', '--teachers', 'equations,verbose,corrupted', '--n-questions', '6',
            '--max-steps', '4', '--batch-size', '2', '--runs-dir', str(tmp_path), '--name', 'edit', '--report-to', 'none',
            '--imports', 'compact_nb.methods.edit', '--method', 'edit', *extra]

def test_edit_from_the_command_line(tmp_path):
    assert cli_train(args(tmp_path, '--filter-correct', 'false', '--method.wrong_teachers', 'corrupted', '--method.plain_fraction', '0.5')) == 0
    run = tmp_path / 'edit'
    cfg, s = (json.loads((run / f).read_text()) for f in ('config.json', 'summary.json'))
    assert cfg['method']['wrong_teachers'] == ['corrupted'] and cfg['method']['key_weight'] == 1.0 and cfg['method']['other_weight'] == 0.0
    assert (s['steps'], s['teachers'], s['method']) == (4, ['equations', 'verbose'], 'edit')
    recs = read_metrics(run / 'metrics.jsonl')
    assert [r['weighted'] for r in recs] == [0, 0, 1, 1]
    assert all(r['loss_wrong'] == 0 for r in recs[:2]) and all(r['loss_wrong'] < 0 for r in recs[2:]) # the wrong side only in stage 2
    assert all(0 < r['key_fraction'] < 1 for r in recs)

def test_edit_refuses_data_without_wrong_rationales(tmp_path, capsys):
    assert cli_train(args(tmp_path)) == 2 # filter_correct on (the default) and no teacher declared wrong
    assert 'filter_correct: false' in capsys.readouterr().err
    assert not (tmp_path / 'edit').exists()

def test_edit_pairs_on_svamp():
    if shared_data('teachers') is None: pytest.skip('the EIT corpora (shared/data/teachers) are not on this machine')
    from compact_nb.train_config import TrainConfig, training_examples
    from compact_nb.methods.base import method_config, build_method
    cfg = TrainConfig(data='eit:svamp', teachers=['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b', 'human'], levels=[3],
                      filter_correct=False, method=method_config('edit'))
    exs, teachers, _ = training_examples(cfg)
    m = build_method(cfg.method, teachers)
    kept, paths = m.select(exs, teachers)
    sel = m.selection
    assert (sel['questions'], sel['with_wrong'], sel['pairs'], paths) == (700, 21, 58, teachers)
    assert dict(sel['wrong']) == {'gpt-4o': 13, 'gemini-1.5-flash': 7, 'llama-3-70b': 8}
