"""`compact_nb train CONFIG --dry-run` on the paper's settings: the three students of Table 8 built on the meta device from
local config.json files of their published shapes (no weights anywhere), parameter counts against the published sizes,
LoRA parameters and optimiser steps against hand counts, nothing written; the steps agree with what Trainer then runs,
and the logits term of the memory estimate agrees with a measurement."""
import json, math, time
from pathlib import Path
import pytest
import torch
from compact_nb.config import parse_config
from compact_nb.train import cli_train, train
from compact_nb.train_config import TrainConfig
from compact_nb.dry_run import dry_run, LOGIT_BYTES

CONFIGS = Path(__file__).resolve().parent.parent / 'configs' / 'paper'
TOY = ['--data', 'toy', '--teachers', 'equations,verbose,thinker,corrupted'] # the paper configs' data without ../shared

# the published shapes (the models' config.json on the hub) and sizes
SHAPES = {
    'qwen2.5-1.5b': (dict(architectures=['Qwen2ForCausalLM'], model_type='qwen2', hidden_size=1536, intermediate_size=8960,
                          num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                          tie_word_embeddings=True, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1e6), 1.54e9, 8),
    'qwen2.5-7b': (dict(architectures=['Qwen2ForCausalLM'], model_type='qwen2', hidden_size=3584, intermediate_size=18944,
                        num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                        tie_word_embeddings=False, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1e6), 7.62e9, 6),
    'llama-3.1-8b': (dict(architectures=['LlamaForCausalLM'], model_type='llama', hidden_size=4096, intermediate_size=14336,
                          num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                          tie_word_embeddings=False, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=5e5), 8.03e9, 6),
}

def lora_per_layer(c, r=16):
    "LoRA parameters of one decoder layer, by hand: r·(in + out) for q, k, v, o, gate, up and down."
    h, I = c['hidden_size'], c['intermediate_size']
    kv = c['num_key_value_heads'] * h // c['num_attention_heads']
    return r * ((h + h) + 2 * (h + kv) + (h + h) + 2 * (h + I) + (I + h))

def files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob('*'))

@pytest.fixture
def students(tmp_path):
    "Local folders holding only a config.json of each paper student."
    out = {}
    for name, (c, _, _) in SHAPES.items():
        (tmp_path / 'students' / name).mkdir(parents=True)
        (tmp_path / 'students' / name / 'config.json').write_text(json.dumps(c))
        out[name] = tmp_path / 'students' / name
    return out

@pytest.mark.parametrize('name', list(SHAPES))
def test_paper_config_dry_run(name, students, tmp_path, monkeypatch, capsys):
    c, published, epochs = SHAPES[name]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    before = files(tmp_path)
    argv = [str(CONFIGS / f'{name}_svamp.yaml'), '--student', str(students[name]), '--runs-dir', str(tmp_path / 'runs'), *TOY]
    cfg = parse_config(TrainConfig, argv)
    # the paper's values, as the config file gives them
    lr = 5e-5 if name == 'qwen2.5-1.5b' else 1e-4
    assert (cfg.batch_size, cfg.grad_accum, cfg.lr, cfg.epochs, cfg.dtype, cfg.method.name) == (4, 4, lr, epochs, 'bfloat16', 'compact')
    t0 = time.time()
    r = dry_run(cfg, num_processes=2)
    assert time.time() - t0 < 120 # seconds: no weights are read or made
    assert abs(r['base_params'] - published) / published < 0.01
    assert r['lora_targets'] == ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'] # all linear layers but the head
    assert r['trainable_params'] == r['lora_params'] == c['num_hidden_layers'] * lora_per_layer(c)
    assert r['total_params'] == r['base_params'] + r['lora_params']
    assert r['questions'] == 200 and r['rows'] == 800 and r['rows_per_batch'] == 16 # 4 questions x 4 paths
    assert r['steps_per_epoch'] == math.ceil(200 / (4 * 4 * 2)) == 7 and r['steps'] == 7 * epochs
    assert r['tokens']['source'].startswith('estimate') # no tokenizer beside the config
    m = r['memory']
    assert m['weights'] == 2 * r['base_params'] and m['lora'] == 20 * r['lora_params'] # bf16; fp32 weight+grad+2 moments+DDP bucket
    assert m['activations'] == r['batch']['tokens'] * c['num_hidden_layers'] * m['per_token_layer']
    assert m['logits'] == r['batch']['labelled'] * c['vocab_size'] * LOGIT_BYTES
    # the command prints it and writes nothing
    assert cli_train(argv + ['--dry-run', '--num-processes', '2']) == 0
    out = capsys.readouterr().out
    assert f"{r['base_params']:,} base + {r['lora_params']:,} LoRA" in out and f"= {7 * epochs} optimiser steps" in out
    assert files(tmp_path) == before and not (tmp_path / 'runs').exists()

def test_paper_configs_on_svamp(students, tmp_path, monkeypatch):
    "The configs as shipped (our 4-teacher SVAMP data): 200 questions with all four teachers' paths."
    from compact_nb.data.core import shared_data
    if shared_data('teachers') is None: pytest.skip('the EIT teacher corpora (../shared/data/teachers) are not here')
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    cfg = parse_config(TrainConfig, [str(CONFIGS / 'qwen2.5-1.5b_svamp.yaml'), '--student', str(students['qwen2.5-1.5b']),
                                     '--runs-dir', str(tmp_path / 'runs')])
    r = dry_run(cfg, num_processes=2)
    assert r['data'] == 'eit:svamp' and r['questions'] == 200 and r['missing'] == 0
    assert r['paths'] == ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b', 'human']
    assert (r['steps_per_epoch'], r['steps']) == (7, 56)
    assert r['tokens']['max'] <= cfg.max_length
    assert files(tmp_path) == before

def test_world_size_from_accelerate(students, tmp_path, monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '3') # what accelerate launch sets in each process
    cfg = parse_config(TrainConfig, [str(CONFIGS / 'llama-3.1-8b_svamp.yaml'), '--student', str(students['llama-3.1-8b']),
                                     '--runs-dir', str(tmp_path / 'runs'), *TOY])
    r = dry_run(cfg)
    assert (r['processes'], r['processes_from']) == (3, 'WORLD_SIZE')
    assert r['steps'] == math.ceil(200 / (4 * 4 * 3)) * 6
    assert dry_run(cfg, num_processes=1)['steps'] == math.ceil(200 / 16) * 6

def test_hub_id_not_here(tmp_path, capsys):
    rc = cli_train([str(CONFIGS / 'qwen2.5-7b_svamp.yaml'), '--dry-run', *TOY, '--runs-dir', str(tmp_path / 'runs'),
                    '--student', 'compact-nb-tests/no-such-model'])
    err = capsys.readouterr().err
    assert rc == 2 and 'not available locally' in err and 'downloads nothing' in err and 'config.json' in err
    assert not (tmp_path / 'runs').exists()

def test_usual_errors(tmp_path, capsys):
    base = [str(CONFIGS / 'qwen2.5-1.5b_svamp.yaml'), '--dry-run', '--student', 'tiny', *TOY, '--runs-dir', str(tmp_path / 'runs')]
    assert cli_train(base + ['--batch-size', '0']) == 2
    assert 'batch_size must be >= 1' in capsys.readouterr().err
    assert cli_train(base + ['--max-length', '12']) == 2 # the data is tokenised, so a path with no room is refused
    assert 'leaves no room for a rationale' in capsys.readouterr().err
    assert cli_train(base + ['--num-processes', '0']) == 2
    assert 'whole number >= 1' in capsys.readouterr().err
    assert cli_train(base[:1] + base[2:] + ['--num-processes', '2']) == 2
    assert 'goes with --dry-run' in capsys.readouterr().err

def test_local_folder_with_tokenizer(tmp_path):
    "A folder with a config.json and a tokenizer: exact lengths, the same as the tiny student's with that tokenizer."
    from transformers import LlamaConfig
    from compact_nb.student.tiny import tiny_tokenizer
    from compact_nb.data.testbed import TESTBED_WORDS
    tok = tiny_tokenizer(TESTBED_WORDS)
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                vocab_size=len(tok)).save_pretrained(tmp_path / 'small')
    tok.save_pretrained(tmp_path / 'small')
    opts = dict(runs_dir=str(tmp_path / 'runs'), n_questions=12, max_length=160)
    folder = dry_run(TrainConfig(student=str(tmp_path / 'small'), **opts))
    tiny = dry_run(TrainConfig(student='tiny', **opts))
    assert folder['tokens'] == tiny['tokens'] and folder['tokens']['source'] == 'tokenizer'
    assert folder['batch'] == tiny['batch']

def test_steps_are_what_trainer_runs(tmp_path):
    "10 questions, 2 per micro-batch, 3 accumulation steps: 5 micro-batches make 2 optimiser steps per epoch (the last one short)."
    cfg = TrainConfig(name='t', runs_dir=str(tmp_path), student='tiny', n_questions=10, batch_size=2, grad_accum=3, epochs=2,
                      max_length=160, save_steps=100, device='cpu', report_to='none')
    r = dry_run(cfg)
    assert (r['steps_per_epoch'], r['steps']) == (2, 4) and not (tmp_path / 't').exists()
    run = train(cfg, progress=False)
    assert json.loads((run / 'summary.json').read_text())['steps'] == r['steps']

def test_logit_bytes_measured():
    """The memory the logits take at the peak of COMPACT's step grows by LOGIT_BYTES per labelled position and vocabulary
    entry: the peak of the bytes allocated during one training step (every storage created, freed when it dies),
    for a small student with two vocabulary sizes."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from transformers import Qwen2Config, AutoModelForCausalLM
    from compact_nb.student.models import add_lora, LoraSpec
    from compact_nb.student.tiny import tiny_tokenizer
    from compact_nb.data.testbed import TESTBED_WORDS, toy_corpus
    from compact_nb.methods.base import build_method, method_config

    class Peak(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live, self.now, self.peak = {}, 0, 0
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for k, (ref, n) in list(self.live.items()):
                if torch.UntypedStorage._expired(ref):
                    torch.UntypedStorage._free_weak_ref(ref)
                    del self.live[k]
                    self.now -= n
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    st = t.untyped_storage()
                    if st.nbytes() and st.data_ptr() not in self.live:
                        self.live[st.data_ptr()] = (st._weak_ref(), st.nbytes())
                        self.now += st.nbytes()
            self.peak = max(self.peak, self.now)
            return out

    tok, teachers = tiny_tokenizer(TESTBED_WORDS), ['equations', 'verbose', 'thinker', 'corrupted']
    method = build_method(method_config('compact'), teachers)
    col = method.collator(tok, teachers, 160)
    batch = col([col.tokenize(e) for e in toy_corpus(2, teachers=teachers, seed=0)])
    n = int((batch['labels'][:, 1:] != -100).sum())
    def peak(V):
        torch.manual_seed(0)
        c = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                        vocab_size=V, tie_word_embeddings=False)
        m = add_lora(AutoModelForCausalLM.from_config(c, dtype=torch.bfloat16), LoraSpec(dropout=0.0)).train()
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad])
        def step():
            with torch.autocast('cpu', dtype=torch.bfloat16): loss, _ = method.loss(m, batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=False)
        step() # gradients and AdamW moments exist from here on, as in every later step
        with Peak() as p: step()
        return p.peak
    per_entry = (peak(12000) - peak(4000)) / (n * 8000)
    assert 0.8 * LOGIT_BYTES < per_entry < 1.2 * LOGIT_BYTES, per_entry
