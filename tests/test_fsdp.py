"""COMPACT's S_cons and MIND's teaching assistant under sharded training: two CPU processes over gloo (torchrun)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

WORKER = Path(__file__).with_name('fsdp_worker.py')

@pytest.mark.parametrize('engine', ['fsdp2', 'fsdp1'])
def test_scores_and_step_under_fsdp_equal_the_unsharded_model(tmp_path, engine):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', str(29400 + (engine == 'fsdp1')),
           str(WORKER), engine, str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    for rank in (0, 1):
        res = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name, d in res['max_diff'].items(): assert d < 1e-6, (engine, rank, name, d)
        assert res['loss_diff'] < 1e-6
        assert res['avg_grad'] == [1.5]  # ranks held 1 and 2: MetaNet's gradients are averaged
        if engine == 'fsdp2': assert res['ungathered'] == 'RuntimeError'  # without the gather the projection fails
