"""Before any training: what COMPACT's eq. 7 does with the bad teacher's paths, read off the base student.

For every question of the bad-teacher corpus (five paths: four correct EIT teachers + Llama-2-7b's wrong solution),
one no-grad forward of the base student (SmolLM2-135M-Instruct, fresh LoRA = base) gives S_MI, S_cons, S_PPL and
α (COMPACT's defaults). Prints per teacher: mean α, how often it gets the smallest α of its question, and the mean
z-score of each statistic (the sign COMPACT gives it: +z(S_MI), +z(S_cons), -z(S_PPL)).

    python results/svamp_bad_teacher/alpha_probe.py ../runs-svamp/bad_teacher_corpus.jsonl [--batch-size 4]
"""
import argparse, json, sys
import torch

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('corpus')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--max-length', type=int, default=384)
    a = p.parse_args(argv)
    from compact_nb.data.corpus import read_corpus
    from compact_nb.student.models import load_student, LoraSpec
    from compact_nb.methods.base import build_method, method_config
    from compact_nb.methods.compact import compact_loss, zscore
    exs = read_corpus(a.corpus)
    teachers = list(dict.fromkeys(t for e in exs for t in e.teachers))
    model, tok = load_student('smollm2-135m', lora=LoraSpec(dropout=0.0), device='cpu')
    model.eval()
    m = build_method(method_config('compact'), teachers)
    col = m.collator(tok, teachers, a.max_length)
    alpha, z = [], {n: [] for n in ('mi', 'cons', 'ppl')}
    for i in range(0, len(exs), a.batch_size):
        b = col(exs[i:i + a.batch_size])
        with torch.no_grad(): _, _, d = compact_loss(model, b, m.weighting, return_details=True)
        alpha.append(d['alpha'])
        for n in z: z[n].append(zscore(d['scores'][n].float(), b['path_mask']) * (-1 if n == 'ppl' else 1))
    A = torch.cat(alpha)
    Z = {n: torch.cat(v) for n, v in z.items()}
    lowest = torch.bincount(A.argmin(1), minlength=len(teachers))
    rows = ['| teacher | mean α | smallest α of its question | +z(S_MI) | +z(S_cons) | -z(S_PPL) |', '|---|---|---|---|---|---|']
    for k, t in enumerate(teachers):
        rows.append(f"| {t} | {A[:, k].mean():.3f} | {int(lowest[k])} of {len(A)} | {Z['mi'][:, k].mean():+.2f} | "
                    f"{Z['cons'][:, k].mean():+.2f} | {Z['ppl'][:, k].mean():+.2f} |")
    print('\n'.join(rows))
    print(json.dumps({'questions': len(A), 'teachers': teachers, 'uniform_share': 1 / len(teachers)}))

if __name__ == '__main__': sys.exit(main())
