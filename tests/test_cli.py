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
    from compact_nb.train import TrainConfig
    r = run('train', '--help')
    assert r.returncode == 0, r.stderr
    text = ' '.join(r.stdout.split())
    for f in dataclasses.fields(TrainConfig):
        assert '--' + f.name.replace('_', '-') in text, f.name
    assert 'softmax temperature' in text  # docments become the help text

@pytest.mark.parametrize('cmd', ['eval', 'report', 'generate', 'mot'])
def test_subcommand_help(cmd):
    r = run(cmd, '--help')
    assert r.returncode == 0, r.stderr
    assert f'compact_nb {cmd}' in r.stdout

def test_train_rejects_bad_option_value(tmp_path):
    r = run('train', '--epochs', 'two', '--runs-dir', str(tmp_path))
    assert r.returncode != 0 and 'epochs' in r.stderr

def test_train_config_file_typo_names_file(tmp_path):
    cfg = tmp_path / 'run.yaml'
    cfg.write_text('lr: 1.0e-4\nlearning_rat: 3\n')
    r = run('train', str(cfg), '--runs-dir', str(tmp_path))
    assert r.returncode == 2 and 'run.yaml' in r.stderr and "unknown option 'learning_rat'" in r.stderr

def test_shipped_configs_parse():
    from pathlib import Path
    from compact_nb.config import parse_config
    from compact_nb.train import TrainConfig
    files = sorted((Path(__file__).parents[1] / 'configs').glob('*.yaml'))
    assert files
    for f in files:
        cfg = parse_config(TrainConfig, [str(f)])
        assert cfg.name and cfg.data
