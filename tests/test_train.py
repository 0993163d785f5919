"""Training runs as a user runs them: a killed run resumes to the same result at any step, a run folder never mixes two
configs, a method from a user's own file trains from the command line, and two processes agree."""
import json, os, signal, subprocess, sys, time
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

def kill_at(cmd, run, step, ck_step):
    "Start `cmd`, SIGKILL it once metrics.jsonl reaches `step` and checkpoint `ck_step` is complete."
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    ck = run / 'checkpoints' / f'checkpoint-{ck_step}' / 'trainer_state.json'
    t0 = time.time()
    def reached():
        m = run / 'metrics.jsonl'
        return ck.exists() and m.exists() and any(json.loads(l).get('step', 0) >= step for l in m.read_text().splitlines() if l.strip())
    while not reached():
        assert p.poll() is None, 'run ended before the kill point'
        assert time.time() - t0 < 600
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (run / 'summary.json').exists()

def adapter_weights(run):
    from safetensors.torch import load_file
    return load_file(run / 'adapter' / 'adapter_model.safetensors')

@pytest.mark.parametrize('method', [[], ['--method', 'mind', '--method.hidden', '16', '--method.heads', '2', '--method.warmup_batches', '3', '--method.joint_accum', '3']])
def test_kill_in_epoch_two_resumes_bit_for_bit(tmp_path, method):
    "32 questions, batch 2, 3 epochs (48 steps): killed at step 22 (epoch 2, not a boundary), resumed from checkpoint 20."
    args = ['--n-questions', '32', '--epochs', '3', '--save-steps', '5', *method]
    ref = subprocess.run(train_cmd(tmp_path, 'ref', *args), capture_output=True, text=True, env=env(), timeout=900)
    assert ref.returncode == 0, ref.stderr[-2000:]
    kill_at(train_cmd(tmp_path, 'killed', *args), tmp_path / 'killed', 22, 20)
    again = subprocess.run(train_cmd(tmp_path, 'killed', *args), capture_output=True, text=True, env=env(), timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    (s_ref, m_ref), (s_res, m_res) = final(tmp_path / 'ref'), final(tmp_path / 'killed')
    assert s_res['resumed_from'].endswith('checkpoint-20') and s_res['steps'] == s_ref['steps'] == 48
    assert [r['step'] for r in m_res] == list(range(1, 49))
    assert [r['loss'] for r in m_res] == [r['loss'] for r in m_ref]  # exactly, step by step
    assert s_res['train_loss'] == s_ref['train_loss']  # over all 48 steps, not only the resumed ones
    w_ref, w_res = adapter_weights(tmp_path / 'ref'), adapter_weights(tmp_path / 'killed')
    assert all(torch_equal(w_ref[k], w_res[k]) for k in w_ref)

def torch_equal(a, b):
    import torch
    return bool(torch.equal(a, b))

def test_run_folder_never_mixes_configs(tmp_path):
    first = subprocess.run(train_cmd(tmp_path, 'r'), capture_output=True, text=True, env=env(), timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    # the same name with another learning rate and corpus: refused, nothing changed
    before = (tmp_path / 'r' / 'summary.json').read_text()
    clash = subprocess.run(train_cmd(tmp_path, 'r', '--lr', '0.05', '--data-seed', '7'), capture_output=True, text=True, env=env(), timeout=600)
    assert clash.returncode == 2 and 'holds a run with another config' in clash.stderr and 'lr: 0.001 -> 0.05' in clash.stderr
    assert (tmp_path / 'r' / 'summary.json').read_text() == before
    # the same config again: already finished, no 17th step
    same = subprocess.run(train_cmd(tmp_path, 'r'), capture_output=True, text=True, env=env(), timeout=600)
    assert same.returncode == 0 and 'already finished' in same.stderr
    assert len(final(tmp_path / 'r')[1]) == 16
    # a fresh start under a new config, killed after its step-8 checkpoint, then resumed: it continues ITS checkpoint
    kill_at(train_cmd(tmp_path, 'r', '--lr', '5e-3', '--resume', 'false'), tmp_path / 'r', 9, 8)
    assert not (tmp_path / 'r' / 'checkpoints' / 'checkpoint-16').exists()  # the old run's checkpoints are gone
    resumed = subprocess.run(train_cmd(tmp_path, 'r', '--lr', '5e-3'), capture_output=True, text=True, env=env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    s, m = final(tmp_path / 'r')
    assert s['resumed_from'].endswith('checkpoint-8') and s['steps'] == 16 and [r['step'] for r in m] == list(range(1, 17))
    assert json.loads((tmp_path / 'r' / 'config.json').read_text())['lr'] == 5e-3

PLUGIN = '''
from dataclasses import dataclass
import torch
from compact_nb.methods.base import Method, MethodConfig, register_method

@dataclass
class LongestConfig(MethodConfig):
    "SFT on the longest rationale of each question only."
    name:str='longest-path' # registered name
    scale:float=1.0 # multiplies the loss

@register_method(LongestConfig)
class LongestPath(Method):
    def loss(self, model, batch):
        out = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])
        logp = torch.log_softmax(out.logits[:, :-1].float(), -1)
        labels = batch['labels'][:, 1:]
        nll = -logp.gather(-1, labels.clamp_min(0)[..., None]).squeeze(-1) * (labels != -100)
        B, K = batch['path_mask'].shape
        n = (labels != -100).sum(-1).view(B, K)
        pick = n.argmax(-1)
        per_path = (nll.sum(-1) / n.view(-1).clamp_min(1)).view(B, K)
        loss = per_path.gather(1, pick[:, None]).mean() * self.config.scale
        alpha = torch.nn.functional.one_hot(pick, K).float()
        return loss, {'loss': loss.detach(), **{f'alpha/{t}': alpha[:, k].mean() for k, t in enumerate(batch['teachers'])}}
'''

def test_a_method_from_the_users_own_file_trains_from_the_cli(tmp_path):
    f = tmp_path / 'my_methods.py'
    f.write_text(PLUGIN)
    r = subprocess.run(train_cmd(tmp_path, 'plugin', '--imports', str(f), '--method', 'longest-path', '--method.scale', '2',
                                 '--epochs', '1'), capture_output=True, text=True, env=env(), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    s, m = final(tmp_path / 'plugin')
    cfg = json.loads((tmp_path / 'plugin' / 'config.json').read_text())
    assert cfg['method'] == {'name': 'longest-path', 'scale': 2.0} and s['method'] == 'longest-path'
    assert len(m) == 8 and all(sum(v for k, v in rec.items() if k.startswith('alpha/')) == pytest.approx(1) for rec in m)
    # without the import the name is unknown, with a clear message
    r = subprocess.run(train_cmd(tmp_path, 'plugin2', '--method', 'longest-path'), capture_output=True, text=True, env=env(), timeout=600)
    assert r.returncode == 2 and "unknown method 'longest-path'" in r.stderr and '--imports' in r.stderr

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
