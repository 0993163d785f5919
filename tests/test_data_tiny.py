"""The tiny test students have random RMSNorm weights, so a consensus score (S_cons) that skipped the last layer's
input norm would change the numbers, and the equation tests would catch it."""
from unittest import mock
import pytest, torch
from compact_nb.student.tiny import tiny_tokenizer, tiny_model, tiny_examples
from compact_nb.methods.batching import PathCollator
from compact_nb.methods import scores
from compact_nb.methods.scores import compute_scores, reference_scores, last_decoder_layer

TEACHERS = ['t0', 't1', 't2']


@pytest.fixture(scope='module')
def batch():
    tok = tiny_tokenizer()
    return tok, PathCollator(tok, TEACHERS)(tiny_examples(3, teachers=tuple(TEACHERS), seed=0))


def projections_without_input_norm(model, v):
    "`scores.graph_projections` as a buggy version would compute it: the last layer's input norm left out."
    attn = last_decoder_layer(model).self_attn
    return attn.q_proj(v).unflatten(-1, (-1, attn.head_dim)), attn.k_proj(v).unflatten(-1, (-1, attn.head_dim))


def cons_without_input_norm(model, batch):
    "S_cons of the fused code path with the buggy projections (the forward itself is untouched)."
    with mock.patch.object(scores, 'graph_projections', projections_without_input_norm):
        return scores.compute_scores(model, batch, which=('cons',))['cons']


@pytest.mark.parametrize('arch,kv_heads', [('llama', 2), ('qwen2', 4)])
def test_skipping_the_input_norm_changes_s_cons(batch, arch, kv_heads):
    tok, b = batch
    m = tiny_model(arch, tokenizer=tok, kv_heads=kv_heads, seed=3)
    fused = compute_scores(m, b, which=('cons',))['cons']
    torch.testing.assert_close(fused, reference_scores(m, b)['cons'], rtol=1e-4, atol=1e-5)
    skipped = cons_without_input_norm(m, b)
    assert (fused - skipped).abs().max() > 1e-2, (fused, skipped)


def test_unit_norm_weights_would_hide_the_bug(batch):
    "With transformers' unit norm weights the same bug is invisible: why the tiny models draw them at random."
    tok, b = batch
    m = tiny_model('llama', tokenizer=tok, seed=3, norm_std=0.0)
    fused = compute_scores(m, b, which=('cons',))['cons']
    torch.testing.assert_close(cons_without_input_norm(m, b), fused, rtol=1e-4, atol=1e-4)


def test_norm_weights_are_seeded_and_random():
    a, b, c = (tiny_model(vocab_size=50, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.model.norm.weight, b.model.norm.weight)
    assert not torch.equal(a.model.norm.weight, c.model.norm.weight)
    for n, p in a.named_parameters():
        if n.endswith('norm.weight'): assert 0.1 < float(p.detach().std()) < 0.6, n
