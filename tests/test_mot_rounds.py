"""Multi-round Merge of Thought on the tiny student (2 rounds x 2 teachers, 16 steps): a loop killed inside a round-2
branch resumes without retraining or rewriting the finished branches and merges, the killed branch resumes from its
checkpoint, and the final merge is the uninterrupted loop's; the final folder loads like any run."""
import json
import pytest
import torch
from compact_nb.methods.mot import MotTrainConfig, MotBranch, mot_train
from compact_nb.student.models import load_student, resolve_student

KW = dict(student='tiny', data='toy', teachers=['equations', 'verbose'], n_questions=16, max_steps=16, batch_size=2, lr=5e-3,
          save_steps=2, report_to='none')

class Killed(Exception): pass

def dense(run):
    return {k: v.clone() for k, v in load_student(run, device='cpu', merge=True)[0].state_dict().items()}

def test_killed_loop_resumes_without_retraining(tmp_path, monkeypatch):
    ref = mot_train(MotTrainConfig(out=str(tmp_path / 'ref'), rounds=2, **KW), progress=False)
    out = tmp_path / 'mot'
    step_end = MotBranch.on_step_end
    def dies(self, step):
        step_end(self, step)
        if self.config.teacher == 'verbose' and self.config.start and step == 3: raise Killed # round 2's second branch, after its checkpoint at step 2
    monkeypatch.setattr(MotBranch, 'on_step_end', dies)
    with pytest.raises(Killed): mot_train(MotTrainConfig(out=str(out), rounds=2, **KW), progress=False)
    monkeypatch.setattr(MotBranch, 'on_step_end', step_end)
    killed = out / 'round-2' / 'verbose'
    assert not (killed / 'summary.json').exists() and (killed / 'checkpoints' / 'checkpoint-2').exists()
    assert not (out / 'round-2' / 'merge').exists() and not (out / 'summary.json').exists()
    done = [out / 'round-1' / 'equations', out / 'round-1' / 'verbose', out / 'round-1' / 'merge', out / 'round-2' / 'equations']
    files = [p for d in done for p in (d / 'adapter' / 'adapter_model.safetensors', d / 'config.json')]
    before = {p: p.stat().st_mtime_ns for p in files}

    mot_train(MotTrainConfig(out=str(out), rounds=2, **KW), progress=False)
    assert {p: p.stat().st_mtime_ns for p in files} == before # finished branches and the round-1 merge untouched
    s = json.loads((out / 'summary.json').read_text())
    resumed = {(b['round'], b['teacher']): b['resumed_from'] for b in s['branches']}
    assert resumed.pop((2, 'verbose')).endswith('checkpoint-2')
    assert set(resumed.values()) == {None}
    assert (s['steps'], [b['steps'] for b in s['branches']]) == (16, [4, 4, 4, 4])
    a, b = dense(ref), dense(out)
    for k in a: assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert resolve_student(out).kind == 'run' and resolve_student(out).base == 'tiny'

def test_merge_made_from_other_runs_is_refused(tmp_path):
    from compact_nb.methods.mot import merge_round
    out = mot_train(MotTrainConfig(out=str(tmp_path / 'mot'), rounds=1, **{**KW, 'max_steps': 4}), progress=False)
    b = [out / 'round-1' / 'equations', out / 'round-1' / 'verbose']
    assert merge_round(None, b, out / 'round-1' / 'merge') == out / 'round-1' / 'merge' # kept: made from these runs
    with pytest.raises(ValueError, match='holds a merge of other runs'): merge_round(None, b[::-1], out / 'round-1' / 'merge')
