"""Training-step cost against the machine's limit: achieved FLOP/s of a LoRA distillation step divided by a matmul
peak measured in the same process, for plain SFT, the fused uniform objective, fused COMPACT and MIND.

    python bench/flops.py --model smollm2-135m                       # CPU: real SmolLM2, real SVAMP 4-teacher batches
    python bench/flops.py --shape qwen2.5-1.5b --batch-size 4        # GPU check: random Qwen2.5-1.5B-shaped student, bf16
    python bench/flops.py ... --write bench/RESULTS.md               # append the table

FLOP count per step (stated so the fraction can be checked). The base weights are frozen and LoRA is small, so per
token a linear layer costs 2 FLOP per weight in the forward and 2 in the backward (the gradient with respect to its
input; no weight gradient): 4 * N_linear per token, N_linear the decoder's linear weights. The LM head (V x d) runs
only at the labelled positions in the fused objective (`logits_to_keep`), at every position for plain SFT: 4 * V * d
per such token. Causal attention on a row of length L costs 2 * L^2 * d_attn per layer in the forward (QK^T and AV,
halved by the mask) and twice that in the backward: 6 * L^2 * d_attn per layer per row. LoRA's own FLOP (rank r:
6 * r * (d_in + d_out) per adapted weight per token, with its weight gradients) are added. Padding tokens are not
counted (they are wasted work, which the fraction should show). The peak is the median of timed square matmuls
(n = 4096 on a GPU in bf16, 2048 on a CPU in float32) in the same process.
"""
import argparse, json, os, platform, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))

SHAPES = { # Qwen2.5 configs as published (config.json of each model)
    'qwen2.5-1.5b': dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True),
    'qwen2.5-0.5b': dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True),
    'qwen2-tiny': dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, # smoke tests
                       num_key_value_heads=2, vocab_size=512, max_position_embeddings=1024, tie_word_embeddings=True)}
VARIANTS = {'a': 'plain SFT (HF loss, all logits)', 'a2': 'fused objective, uniform weights', 'b': 'COMPACT, fused',
            'd': 'MIND, fused'}

def matmul_peak(device, dtype, n, reps=10):
    "Median FLOP/s of an n x n matmul on `device`."
    import torch
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    for _ in range(3): a @ b
    sync(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); a @ b; sync(); ts.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(ts)

def linear_weights(model):
    "(N_linear of the decoder layers, vocab x hidden of the head, LoRA FLOP per token, attention width)."
    import torch
    dec, lora = 0, 0
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and 'lora_' not in name and 'lm_head' not in name: dec += m.weight.numel()
        if hasattr(m, 'lora_A') and 'default' in getattr(m, 'lora_A', {}):
            A, B = m.lora_A['default'].weight, m.lora_B['default'].weight
            lora += 6 * A.shape[0] * (A.shape[1] + B.shape[0])
    cfg = model.config
    head_dim = getattr(cfg, 'head_dim', None) or cfg.hidden_size // cfg.num_attention_heads
    return dec, cfg.vocab_size * cfg.hidden_size, lora, cfg.num_attention_heads * head_dim, cfg.num_hidden_layers

def step_flops(batch, dims, all_logits):
    "FLOP of one training step on `batch` (see the module docstring)."
    dec, head, lora, d_attn, layers = dims
    lens = batch['attention_mask'].sum(1).tolist()
    tokens = sum(lens)
    labelled = int((batch['labels'][:, 1:] != -100).sum())
    return (4 * dec + lora) * tokens + 4 * head * (tokens if all_logits else labelled) + sum(6 * L * L * d_attn * layers for L in lens)

def random_batches(tok_vocab, n, B, K, L, seed=0):
    "Batches shaped like the SVAMP ones: B questions x K paths, rows of 60-100% of L tokens, a 40-token prompt."
    import torch
    from compact_nb.methods.batching import collate_paths
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        feats = []
        for b in range(B):
            P = 40
            rats = [torch.randint(10, tok_vocab, (int(L * (0.6 + 0.4 * torch.rand(1, generator=g).item())) - P - 8,), generator=g).tolist() for _ in range(K)]
            feats.append(dict(qid=str(b), teachers=[f't{k}' for k in range(K)], prompt_ids=list(range(10, 10 + P)), rationale_ids=rats,
                              thinking=[[int(i % 7 == 0) for i in range(len(r))] for r in rats], suffix_ids=[11, 12, 13, 14, 15, 16, 17],
                              gold_span=[4, 5], eos_id=2, gold_alnum=[True], length=max(P + len(r) + 8 for r in rats)))
        out.append(collate_paths(feats, 0))
    return out, [f't{k}' for k in range(K)]

def build(args):
    import torch
    from compact_nb.student.models import LoraSpec, add_lora
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = torch.bfloat16 if dev.type == 'cuda' else torch.float32
    spec = LoraSpec(dropout=0.0)
    if args.shape:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(Qwen2Config(**SHAPES[args.shape])).to(dev, dtype)
        model = add_lora(model, spec)
        bs, teachers = random_batches(SHAPES[args.shape]['vocab_size'], args.batches, args.batch_size, 4, args.max_length)
        return model, bs, teachers, f"random {args.shape}-shaped student, random tokens in SVAMP-like rows", dev, dtype
    from step_cost import load, batches
    model, tok = load(args.model)
    model.to(dev)
    bs, teachers, source = batches(args.model, tok, args.batches, args.batch_size, args.max_length)
    return model, bs, teachers, source, dev, dtype

def run_variant(args):
    import torch
    from transformers import TrainingArguments
    from compact_nb.train import CompactTrainer
    from step_cost import method_for
    model, bs, teachers, source, dev, dtype = build(args)
    targs = TrainingArguments(output_dir='/tmp/flops_bench', per_device_train_batch_size=args.batch_size, learning_rate=1e-4,
                              report_to='none', use_cpu=dev.type != 'cuda', disable_tqdm=True, bf16=dtype == torch.bfloat16)
    method = method_for(args.variant if args.variant != 'a' else 'a', teachers, 0.1)
    method.setup(model, targs)
    tr = CompactTrainer(model=model, args=targs, train_dataset=[0], method=method)
    tr.create_optimizer_and_scheduler(num_training_steps=10_000)
    tr.current_gradient_accumulation_steps = 1
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    def step(b):
        b = {k: v.to(dev) if hasattr(v, 'to') else v for k, v in b.items()}
        tr.training_step(tr.model, b); tr.optimizer.step(); tr.optimizer.zero_grad(); method.on_step_end(0); sync()
    for b in bs[:args.warmup]: step(b)
    dims = linear_weights(model)
    times, flops = [], []
    for _ in range(args.repeats):
        for b in bs:
            t = time.perf_counter(); step(b); times.append(time.perf_counter() - t)
            flops.append(step_flops(b, dims, all_logits=args.variant == 'a'))
    peak = matmul_peak(dev, dtype, 4096 if dev.type == 'cuda' else 2048)
    achieved = sum(flops) / sum(times)
    out = dict(variant=args.variant, median_s=statistics.median(times), achieved_flops=achieved, peak_flops=peak,
               fraction=achieved / peak, source=source, device=torch.cuda.get_device_name() if dev.type == 'cuda' else platform.processor() or platform.machine(),
               dtype=str(dtype).split('.')[-1], params=sum(p.numel() for p in model.parameters()), rows=len(bs[0]['input_ids']))
    if dev.type == 'cuda': out['peak_gpu_gb'] = torch.cuda.max_memory_allocated() / 2**30
    print('RESULT ' + json.dumps(out))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='smollm2-135m', help="a student for load_student, or 'tiny'")
    p.add_argument('--shape', choices=list(SHAPES), help='a random-weight student of this published shape instead of --model')
    p.add_argument('--batches', type=int, default=4)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--batch-size', type=int, default=2, help='questions per step (x 4 paths)')
    p.add_argument('--max-length', type=int, default=384)
    p.add_argument('--variants', default='a,a2,b,d')
    p.add_argument('--variant', help=argparse.SUPPRESS)
    p.add_argument('--write', help='append the table to this markdown file')
    p.add_argument('--json', help='write all results to this JSON file')
    args = p.parse_args()
    if args.variant: return run_variant(args)
    import subprocess
    res = {}
    for v in args.variants.split(','):
        cmd = [sys.executable, __file__, *[a for i, a in enumerate(sys.argv[1:]) if a not in ('--write', '--json') and sys.argv[i] not in ('--write', '--json')], '--variant', v]
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
        if line is None: sys.exit(f"variant {v} failed:\n{r.stderr[-3000:]}")
        res[v] = json.loads(line[7:])
        print(v, res[v], flush=True)
    first = next(iter(res.values()))
    a2 = res.get('a2', first)['median_s']
    lines = [f"### Achieved FLOP/s against the measured matmul peak: {first['source']}", '',
             f"Device: {first['device']} ({os.cpu_count()} CPU cores), {first['dtype']}, {first['params']/1e6:.1f}M parameters, "
             f"{first['rows']} rows per step; peak = median n x n matmul in the same process.", '',
             f"Command: `python bench/flops.py {' '.join(sys.argv[1:])}`", '',
             '| variant | median step (s) | ratio to (a2) | achieved TFLOP/s | peak TFLOP/s | fraction of peak |' + (' peak GPU GB |' if 'peak_gpu_gb' in first else ''),
             '|---|---|---|---|---|---|' + ('---|' if 'peak_gpu_gb' in first else '')]
    for v, r in res.items():
        lines.append(f"| ({v}) {VARIANTS[v]} | {r['median_s']:.3f} | {r['median_s']/a2:.3f} | {r['achieved_flops']/1e12:.3f} | "
                     f"{r['peak_flops']/1e12:.3f} | {r['fraction']:.3f} |" + (f" {r['peak_gpu_gb']:.1f} |" if 'peak_gpu_gb' in r else ''))
    text = '\n'.join(lines)
    print(text)
    if args.json: Path(args.json).write_text(json.dumps(res, indent=2))
    if args.write:
        with open(args.write, 'a') as f: f.write('\n' + text + '\n')

if __name__ == '__main__': main()
