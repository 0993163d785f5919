"""Run by tests/test_fsdp.py under torchrun: COMPACT's path scores and one training step on a tiny model sharded over
two CPU processes, against the same model unsharded; MetaNet's gradient averaging. Writes one JSON file per rank."""
import json, sys, contextlib
from pathlib import Path
from unittest import mock
import torch, torch.distributed as dist
import compact_nb.methods.scores as sc
from compact_nb.student.tiny import tiny_tokenizer, tiny_model, tiny_examples
from compact_nb.methods.batching import PathCollator
from compact_nb.methods.compact import compact_loss, CompactWeighting
from compact_nb.methods.mind import average_grads

def shard(m, engine):
    if engine == 'fsdp2':
        from torch.distributed.fsdp import fully_shard
        for layer in m.model.layers: fully_shard(layer)
        return fully_shard(m)
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer
    return FSDP(m, auto_wrap_policy=ModuleWrapPolicy({LlamaDecoderLayer}), device_id=torch.device('cpu'), use_orig_params=True)

def main(engine, out):
    dist.init_process_group('gloo')
    rank, res = dist.get_rank(), {}
    tok, teachers = tiny_tokenizer(), ['t0', 't1', 't2']
    batch = PathCollator(tok, teachers)(tiny_examples(4)[:2])
    m = tiny_model('llama', tokenizer=tok)
    ref = sc.compute_scores(m, batch)
    ref_loss, _ = compact_loss(m, batch, CompactWeighting(teachers))
    m = shard(m, engine)
    got = sc.compute_scores(m, batch)
    res['max_diff'] = {n: (ref[n] - got[n]).abs().max().item() for n in ref}
    loss, _ = compact_loss(m, batch, CompactWeighting(teachers))
    loss.backward()
    res['loss_diff'] = abs(float(loss) - float(ref_loss))
    with mock.patch.object(sc, 'gathered_params', lambda model, module: contextlib.nullcontext()):
        try: sc.compute_scores(m, batch); res['ungathered'] = 'ran'
        except Exception as e: res['ungathered'] = type(e).__name__
    net = torch.nn.Linear(3, 2)
    for p in net.parameters(): p.grad = torch.full_like(p, float(rank + 1))
    average_grads(net.parameters())
    res['avg_grad'] = sorted({float(v) for p in net.parameters() for v in p.grad.flatten()})
    Path(out, f"rank{rank}.json").write_text(json.dumps(res))
    dist.destroy_process_group()

if __name__ == '__main__': main(sys.argv[1], sys.argv[2])
