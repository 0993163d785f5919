"""The console script: top-level help, every subcommand's --help, and clear errors for bad options."""
import dataclasses, subprocess, sys
import pytest

def run(*args, timeout=120):
    return subprocess.run([sys.executable, '-m', 'compact_nb.cli', *args], capture_output=True, text=True, timeout=timeout)

def test_top_level_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ('train', 'eval', 'report', 'generate', 'mot'): assert cmd in r.stdout

def test_unknown_command_fails():
    r = run('frobnicate')
    assert r.returncode == 2 and 'unknown command' in r.stderr

def test_train_help_documents_every_option():
    from compact_nb.train_config import TrainConfig
    r = run('train', '--help')
    assert r.returncode == 0, r.stderr
    text = ' '.join(r.stdout.split())
    for f in dataclasses.fields(TrainConfig):
        assert '--' + f.name.replace('_', '-') in text, f.name
    assert 'softmax temperature' in text  # docments become the help text
    for opt in ('--method.tau FLOAT', '--method.betas', '--method.select_beta', '--method.teacher'):
        assert opt in text, opt  # every registered method's options are listed

@pytest.mark.parametrize('cmd', ['eval', 'report', 'generate', 'mot'])
def test_subcommand_help(cmd):
    r = run(cmd, '--help')
    assert r.returncode == 0, r.stderr
    assert f'compact_nb {cmd}' in r.stdout

def test_train_rejects_bad_option_value(tmp_path):
    r = run('train', '--epochs', 'two', '--runs-dir', str(tmp_path))
    assert r.returncode != 0 and 'epochs' in r.stderr

@pytest.mark.parametrize('args, message', [
    (['--method.tau', 'nan'], 'method.tau must be a finite number'),
    (['--method.taux', '2'], "unknown option 'method.taux' (did you mean 'method.tau'?)"),
    (['--method', 'compactt'], "unknown method 'compactt' (did you mean 'compact'?)"),
    (['--method', 'single'], 'needs a teacher'),
    (['--grad-accum', '0'], 'grad_accum must be >= 1'),
    (['--max-steps', '0'], 'max_steps must be >= 1'),
    (['--n-questions', '0'], 'n_questions must be >= 1'),
    (['--warmup-ratio', '5'], 'warmup_ratio must be in [0, 1)'),
    (['--epochs', '0'], 'epochs must be > 0'),
    (['--name', '../../x'], 'name must be a plain folder name'),
    (['--name', ''], 'name must be a plain folder name'),
    (['--dtype', 'float8'], "dtype must be one of"),
    (['--device', 'tpu9'], 'device must be auto, cpu, mps, cuda or cuda:N'),
    (['--weighting', 'uniform'], "option '--weighting' has moved"),
])
def test_train_refuses_bad_options_before_loading(tmp_path, args, message):
    r = run('train', '--runs-dir', str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith('compact_nb train: error:') and message in r.stderr, r.stderr
    assert not any(tmp_path.iterdir())  # nothing written, no model loaded

def test_train_config_file_old_option_says_where_it_went(tmp_path):
    cfg = tmp_path / 'old.yaml'
    cfg.write_text('weighting: uniform\n')
    r = run('train', str(cfg), '--runs-dir', str(tmp_path))
    assert r.returncode == 2 and "old.yaml: option 'weighting' has moved" in r.stderr

def test_train_config_file_typo_names_file(tmp_path):
    cfg = tmp_path / 'run.yaml'
    cfg.write_text('lr: 1.0e-4\nlearning_rat: 3\n')
    r = run('train', str(cfg), '--runs-dir', str(tmp_path))
    assert r.returncode == 2 and 'run.yaml' in r.stderr and "unknown option 'learning_rat'" in r.stderr

def test_shipped_configs_parse():
    from pathlib import Path
    from compact_nb.config import parse_config
    from compact_nb.train_config import TrainConfig
    files = sorted((Path(__file__).parents[1] / 'configs').glob('*.yaml'))
    assert files
    for f in files:
        cfg = parse_config(TrainConfig, [str(f)])
        assert cfg.name and cfg.data

@pytest.mark.skipif(__import__('importlib').util.find_spec('wandb') is not None, reason='wandb is installed here')
def test_report_to_wandb_without_wandb_says_how_to_install(tmp_path):
    r = run('train', '--runs-dir', str(tmp_path), '--report-to', 'wandb')
    assert r.returncode == 2 and "report_to 'wandb' needs the wandb package: pip install wandb" in r.stderr, r.stderr
    assert not any(tmp_path.iterdir())
