"""Training runs as a user runs them: a killed run resumes to the same result, and two processes agree."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest

TINY = ['--student', 'tiny', '--n-questions', '16', '--epochs', '2', '--batch-size', '2', '--max-length', '160',
        '--save-steps', '4', '--lr', '1e-3', '--lora-dropout', '0', '--report-to', 'none']

def train_cmd(runs, name, *extra):
    return [sys.executable, '-m', 'compact_nb.cli', 'train', *TINY, '--runs-dir', str(runs), '--name', name, *extra]

def env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}

def final(run):
    s = json.loads((run / 'summary.json').read_text())
    recs = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    return s, [r for r in recs if 'loss' in r]

def test_killed_run_resumes_to_the_same_result(tmp_path):
    ref = subprocess.run(train_cmd(tmp_path, 'ref'), capture_output=True, text=True, env=env(), timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    # the same run, killed (SIGKILL) once its step-8 checkpoint is complete, then started again
    p = subprocess.Popen(train_cmd(tmp_path, 'killed'), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    ck = tmp_path / 'killed' / 'checkpoints' / 'checkpoint-8' / 'trainer_state.json'
    t0 = time.time()
    while not ck.exists():
        assert p.poll() is None, 'run ended before its checkpoint'
        assert time.time() - t0 < 600
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (tmp_path / 'killed' / 'summary.json').exists()
    again = subprocess.run(train_cmd(tmp_path, 'killed'), capture_output=True, text=True, env=env(), timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    (s_ref, m_ref), (s_res, m_res) = final(tmp_path / 'ref'), final(tmp_path / 'killed')
    assert s_res['resumed_from'].endswith('checkpoint-8')
    assert s_res['steps'] == s_ref['steps'] == 16
    assert [r['step'] for r in m_res] == list(range(1, 17))  # no step lost or logged twice
    for a, b in zip(m_ref, m_res):
        assert a['loss'] == pytest.approx(b['loss'], rel=1e-5, abs=1e-6), (a['step'], a['loss'], b['loss'])
        assert a['alpha/corrupted'] == pytest.approx(b['alpha/corrupted'], rel=1e-4, abs=1e-6)
    assert s_res['weights_checksum_per_process'][0] == pytest.approx(s_ref['weights_checksum_per_process'][0], rel=1e-6)

@pytest.mark.slow
def test_two_processes_agree(tmp_path):
    # On a CPU-only machine accelerate's `--cpu` flag starts ONE process unless an MPI hostfile is given; the torchrun
    # launcher (`--multi_gpu`) with ACCELERATE_USE_CPU starts two CPU processes that talk over gloo.
    cmd = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'compact_nb.cli', 'train', *TINY,
           '--runs-dir', str(tmp_path), '--name', 'ddp', '--epochs', '1']
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env(), 'ACCELERATE_USE_CPU': 'true'}, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    s, m = final(tmp_path / 'ddp')
    assert s['processes'] == 2
    a, b = s['weights_checksum_per_process']
    assert a == pytest.approx(b, rel=1e-9)
    assert s['steps'] == 4  # 16 questions / (2 per process x 2 processes)
