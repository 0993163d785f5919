"""Cost of one training step: plain multi-teacher SFT vs COMPACT (fused) vs COMPACT with a separate scoring forward vs MIND.

Each variant runs in its own process (so peak RSS is its own) on the same batches of K teacher paths, through
`CompactTrainer.training_step` + the optimizer step, i.e. exactly what `Trainer` does per step.

    python bench/step_cost.py --model tiny            # tiny random Llama, toy corpus
    python bench/step_cost.py --model smollm2-135m    # SmolLM2-135M (GGUF), SVAMP 4-teacher batches
    python bench/step_cost.py --model smollm2-135m --write bench/RESULTS.md

Variants: (a) plain SFT: the model's own causal-LM loss over all B*K paths (uniform weights, no scores, no MCon);
(a2) the fused objective with uniform weights (our per-path SFT, no scores, no MCon); (b) COMPACT: one forward,
scores + alpha + SFT + MCon; (c) naive COMPACT: a separate no-grad forward for the scores, then the loss forward;
(d) MIND: one forward, its teaching assistant's scores, selection, weighted SFT + JSD, and the assistant's ranking loss
and (every `joint_accum` steps) its optimiser step. Every variant is a registered-method-shaped object given to
`CompactTrainer`, as in training.
"""
import argparse, json, os, platform, resource, statistics, subprocess, sys, time

VARIANTS = {'a': 'plain SFT (HF loss, uniform, no scores)', 'a2': 'fused objective, uniform weights, no scores',
            'b': 'COMPACT, fused (one forward)', 'c': 'COMPACT, naive (separate scoring forward)',
            'd': 'MIND (teaching assistant, selection, JSD), one forward'}

def batches(model_name, tok, n_batches, batch_size, max_length):
    from compact_nb.methods.batching import PathCollator
    from compact_nb.data.core import shared_data
    if model_name != 'tiny' and shared_data('teachers') is not None:
        from compact_nb.train_config import TrainConfig, training_examples
        exs, teachers, _ = training_examples(TrainConfig(data='eit:svamp', n_questions=n_batches * batch_size))
        source = 'SVAMP level 3, 4 teachers'
    else:
        from compact_nb.data.testbed import toy_corpus
        teachers = ['equations', 'verbose', 'thinker', 'corrupted']
        exs, source = toy_corpus(n_batches * batch_size, teachers=teachers, seed=0), 'toy corpus, 4 teachers'
    col = PathCollator(tok, teachers, max_length=max_length)
    feats = sorted((col.tokenize(e) for e in exs), key=lambda f: f['length']) # length-grouped, as in training
    return [col(feats[i:i + batch_size]) for i in range(0, len(feats), batch_size)], teachers, source

def load(model_name):
    from compact_nb.student.models import LoraSpec, add_lora
    spec = LoraSpec(dropout=0.0)
    if model_name == 'tiny':
        from compact_nb.student.tiny import tiny_tokenizer, tiny_model
        from compact_nb.data.testbed import TESTBED_WORDS
        tok = tiny_tokenizer(TESTBED_WORDS)
        return add_lora(tiny_model('llama', vocab_size=len(tok), seed=0), spec), tok
    from compact_nb.student.models import load_student
    return load_student(model_name, lora=spec)

def method_for(variant, teachers, lam):
    "The step's loss as a `Method` (what `CompactTrainer` calls), for one variant."
    from compact_nb.methods.base import Method, MethodConfig, build_method, method_config
    if variant == 'd': return build_method(method_config('mind', warmup_batches=0), teachers)
    fn = objective(variant, teachers, lam)
    class Objective(Method):
        def loss(self, model, batch): return fn(model, batch)
    return Objective(MethodConfig(name=f'bench-{variant}'), teachers)

def objective(variant, teachers, lam):
    from compact_nb.methods.compact import compact_loss, CompactWeighting, UniformWeighting, compact_alpha, Weighting
    from compact_nb.methods.scores import compute_scores
    compact, uniform = CompactWeighting(teachers), UniformWeighting(teachers)
    class Given(Weighting):
        def __init__(self, alpha): super().__init__(teachers); self.alpha = alpha
        def __call__(self, scores, path_mask, batch=None): return self.alpha
    def plain(model, b):
        return model(input_ids=b['input_ids'], attention_mask=b['attention_mask'], labels=b['labels']).loss, {}
    def naive(model, b):
        alpha = compact_alpha(compute_scores(model, b), b['path_mask']) # a second, scoring-only forward
        return compact_loss(model, b, Given(alpha), lam=lam)
    return {'a': plain, 'a2': lambda m, b: compact_loss(m, b, uniform, lam=0.0), 'b': lambda m, b: compact_loss(m, b, compact, lam=lam),
            'c': naive}[variant]

def run_variant(args):
    import torch
    from transformers import TrainingArguments
    from compact_nb.train import CompactTrainer
    from compact_nb.methods.batching import pad_fraction
    torch.manual_seed(0)
    model, tok = load(args.model)
    bs, teachers, source = batches(args.model, tok, args.batches, args.batch_size, args.max_length)
    targs = TrainingArguments(output_dir='/tmp/step_cost', per_device_train_batch_size=args.batch_size, learning_rate=1e-4,
                              report_to='none', use_cpu=not torch.cuda.is_available(), disable_tqdm=True,
                              bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    method = method_for(args.variant, teachers, 0.1)
    method.setup(model, targs)
    tr = CompactTrainer(model=model, args=targs, train_dataset=[0], method=method)
    tr.create_optimizer_and_scheduler(num_training_steps=10_000)
    tr.current_gradient_accumulation_steps = 1 # set by Trainer.train() per accumulation window
    dev = tr.args.device
    def step(b):
        b = {k: v.to(dev) if hasattr(v, 'to') else v for k, v in b.items()}
        tr.training_step(tr.model, b)
        tr.optimizer.step()
        tr.optimizer.zero_grad()
        method.on_step_end(0)
        if dev.type == 'cuda': torch.cuda.synchronize()
    for b in bs[:args.warmup]: step(b)
    times, tokens = [], []
    for rep in range(args.repeats):
        for b in bs:
            t0 = time.perf_counter()
            step(b)
            times.append(time.perf_counter() - t0)
            tokens.append(int(b['attention_mask'].sum()))
    med = statistics.median(times)
    out = dict(variant=args.variant, median_s=med, tokens_per_s=sum(tokens) / sum(times),
               pad_fraction=statistics.mean(pad_fraction(b) for b in bs), peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               steps=len(times), rows=len(teachers) * args.batch_size, teachers=teachers, source=source,
               params=sum(p.numel() for p in model.parameters()))
    if dev.type == 'cuda': out['peak_gpu_gb'] = torch.cuda.max_memory_allocated() / 2**30
    print('RESULT ' + json.dumps(out))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='tiny', help="'tiny' or a student for compact_nb.student.models.load_student")
    p.add_argument('--batches', type=int, default=6, help='distinct batches')
    p.add_argument('--repeats', type=int, default=2, help='passes over the batches')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=2, help='questions per batch (x K paths)')
    p.add_argument('--max-length', type=int, default=384)
    p.add_argument('--variant', choices=list(VARIANTS), help=argparse.SUPPRESS)
    p.add_argument('--write', help='append the table to this markdown file')
    args = p.parse_args()
    if args.variant: return run_variant(args)
    res = {}
    for v in VARIANTS:
        cmd = [sys.executable, __file__, *sys.argv[1:], '--variant', v]
        cmd = [c for i, c in enumerate(cmd) if c != '--write' and (i == 0 or cmd[i - 1] != '--write')]
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
        if line is None: sys.exit(f"variant {v} failed:\n{r.stderr[-3000:]}")
        res[v] = json.loads(line[7:])
    a = res['a']['median_s']
    info = res['b']
    lines = [f"### Step cost: `{args.model}` ({info['params']/1e6:.1f}M parameters), {info['source']}", '',
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch threads default; "
             f"{info['rows']} paths per step ({args.batch_size} questions x {len(info['teachers'])} teachers), max length {args.max_length}, "
             f"{info['steps']} timed steps per variant after {args.warmup} warm-up steps, each variant in its own process.", '',
             f"Command: `python bench/step_cost.py {' '.join(sys.argv[1:])}`", '',
             '| variant | median step (s) | ratio to (a) | tokens/s | pad fraction | peak RSS (GB) |', '|---|---|---|---|---|---|']
    for v, r in res.items():
        lines.append(f"| ({v}) {VARIANTS[v]} | {r['median_s']:.3f} | {r['median_s']/a:.3f} | {r['tokens_per_s']:.0f} | "
                     f"{r['pad_fraction']:.3f} | {r['peak_rss_gb']:.2f} |")
    a2 = res['a2']['median_s']
    lines += ['', f"b/a = {res['b']['median_s']/a:.3f}, c/a = {res['c']['median_s']/a:.3f}; against the fused uniform step (a2): "
                  f"COMPACT b/a2 = {res['b']['median_s']/a2:.3f}, MIND d/a2 = {res['d']['median_s']/a2:.3f}", '']
    text = '\n'.join(lines)
    print(text)
    if args.write:
        with open(args.write, 'a') as f: f.write('\n' + text + '\n')

if __name__ == '__main__': main()
