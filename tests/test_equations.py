"""Cross-module checks of the COMPACT equations (05_tiny .. 08_objective) that do not fit one notebook:
fused scores vs the plain reference over several seeds and layouts, bf16, gradient checkpointing, and a
`transformers.Trainer` step driven by `PathCollator` + `compact_loss`."""
import pytest, torch
from compact_nb.student.tiny import tiny_tokenizer, tiny_model, tiny_lora, tiny_examples
from compact_nb.methods.batching import PathCollator
from compact_nb.methods.scores import compute_scores, reference_scores, SCORE_NAMES
from compact_nb.methods.compact import compact_loss, CompactWeighting, logs_to_floats

T = ['t0', 't1', 't2', 't3']

@pytest.fixture(scope='module')
def tok(): return tiny_tokenizer()

@pytest.mark.parametrize('arch,kv,lora,span,seed', [('llama', 1, False, 'suffix', 0), ('llama', 2, True, 'gold', 1),
                                                    ('qwen2', 4, True, 'suffix', 2), ('qwen2', 2, False, 'gold', 3)])
def test_fused_matches_reference(tok, arch, kv, lora, span, seed):
    "Fused scores == plain per-path reference, with missing teachers, GQA (incl. one key head) and MHA."
    m = tiny_model(arch, tokenizer=tok, kv_heads=kv, seed=seed)
    if lora: m = tiny_lora(m, seed=seed)
    exs = tiny_examples(3, teachers=T, seed=seed, missing=0.3)
    b = PathCollator(tok, T, answer_span=span)(exs)
    fused, ref = compute_scores(m, b), reference_scores(m, b)
    for n in SCORE_NAMES: torch.testing.assert_close(fused[n], ref[n], atol=1e-5, rtol=0)

def test_bf16_close_to_fp32(tok):
    "A bf16 student gives finite losses and scores close to its fp32 twin (the scores are computed in fp32)."
    b = PathCollator(tok, T)(tiny_examples(2, teachers=T, seed=4))
    m32 = tiny_model('llama', tokenizer=tok, seed=4)
    m16 = tiny_model('llama', tokenizer=tok, seed=4, dtype=torch.bfloat16)
    l32, g32 = compact_loss(m32, b, CompactWeighting(T))
    l16, g16 = compact_loss(m16, b, CompactWeighting(T))
    assert torch.isfinite(l16)
    assert abs(l16.item() - l32.item()) < 0.05 * abs(l32.item())
    assert abs(g16['ppl/t0'].item() - g32['ppl/t0'].item()) < 0.1

def test_gradient_checkpointing_same_loss_and_grads(tok):
    "With gradient checkpointing on, the fused step gives the same loss and gradients."
    b = PathCollator(tok, T)(tiny_examples(2, teachers=T, seed=5))
    def run(ckpt):
        m = tiny_lora(tiny_model('llama', tokenizer=tok, seed=5), seed=5).train()
        if ckpt: m.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
        loss, _ = compact_loss(m, b, CompactWeighting(T), lam=0.5)
        loss.backward()
        return loss.detach(), [p.grad for p in m.parameters() if p.requires_grad]
    (l0, g0), (l1, g1) = run(False), run(True)
    torch.testing.assert_close(l0, l1)
    for a, c in zip(g0, g1): torch.testing.assert_close(a, c, atol=1e-6, rtol=1e-5)

def test_trainer_step(tok, tmp_path):
    "PathCollator as a Trainer data_collator and compact_loss as its compute_loss train a tiny LoRA student."
    from transformers import Trainer, TrainingArguments
    class CompactTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, logs = compact_loss(model, inputs, self.weighting, lam=0.1)
            self.last_logs = logs_to_floats(logs)
            return loss
    model = tiny_lora(tiny_model('llama', tokenizer=tok, seed=6), seed=6)
    exs = tiny_examples(8, teachers=T, seed=6, missing=0.2)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=3, learning_rate=1e-2,
                             remove_unused_columns=False, report_to=[], logging_steps=1, save_strategy='no',
                             use_cpu=True, dataloader_num_workers=0)
    tr = CompactTrainer(model=model, args=args, train_dataset=exs, data_collator=PathCollator(tok, T))
    tr.weighting = CompactWeighting(T)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    out = tr.train()
    assert out.global_step == 3
    assert any(not torch.equal(a, p) for a, p in zip(before, [p for p in model.parameters() if p.requires_grad]))
    assert all(0 <= v <= 1 for k, v in tr.last_logs.items() if k.startswith('alpha/'))
    assert set(k.split('/')[0] for k in tr.last_logs) >= {'loss', 'alpha', 'mi', 'cons', 'ppl'}

@pytest.mark.slow
def test_real_student_bpe_layout_and_scores():
    "On SmolLM2-135M (byte-level BPE, GQA 9/3 heads, LoRA): re-tokenising a path gives the same ids, and fused == reference."
    try:
        from compact_nb.student.models import load_student, LoraSpec
        model, tok = load_student(lora=LoraSpec(r=4, alpha=8, dropout=0.0), attn_implementation='eager')
    except (ImportError, FileNotFoundError, OSError) as e: pytest.skip(f"SmolLM2 student not available: {e}")
    from compact_nb.data.core import Example, Rationale
    from compact_nb.methods.batching import tokenize_example
    ex = Example('Jack had 8 pens and gave away 3. How many are left?', '5', 'numeric', qid='q1')
    ex.add(Rationale('a', 'He had 8 pens. Therefore, after giving 3 away, 8 - 3 = 5. The answer is 5'))
    ex.add(Rationale('b', 'Wait, so we subtract: 8-3 equals 5.\nSo the final answer is 5.'))
    f = tokenize_example(ex, tok, ['a', 'b'])
    for k in range(2):
        ids = f['prompt_ids'] + f['rationale_ids'][k] + f['suffix_ids'] + [f['eos_id']]
        assert tok(tok.decode(ids), add_special_tokens=False)['input_ids'] == ids
    assert tok.decode(f['suffix_ids'][slice(*f['gold_span'])]).strip() == '5'
    think = [[t for t, m in zip(tok.convert_ids_to_tokens(r), fl) if m] for r, fl in zip(f['rationale_ids'], f['thinking'])]
    assert think == [['ĠTherefore'], ['Wait', 'Ġso']]
    for p in model.parameters():  # make the fresh LoRA adapter non-trivial
        if p.requires_grad: torch.nn.init.normal_(p, std=0.02)
    b = PathCollator(tok, ['a', 'b'])([ex])
    fused, ref = compute_scores(model, b), reference_scores(model, b)
    for n in SCORE_NAMES: torch.testing.assert_close(fused[n], ref[n], atol=1e-4, rtol=1e-5)
