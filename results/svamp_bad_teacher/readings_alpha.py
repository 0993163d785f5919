"""Before any training: how far apart are the three readings of COMPACT's weights on the bad-teacher questions?

For every question of the bad-teacher corpus (five paths: four correct EIT teachers + Llama-2-7b-chat's wrong
solution), the base student (SmolLM2-135M-Instruct with a fresh LoRA adapter, which changes nothing at init) in eval
mode (no dropout: the authors score in training mode, where dropout makes α random) gives α three ways:

- ours:    compact_nb's default reading (`method: {name: compact}`)
- paper:   the paper's print, the five literal switches (`sft_reduction: sum, cons_at: eos, cons_softmax: all,
           answer_span: gold, info_gold: alnum`); α does not depend on the first or the fourth
- authors: the authors' released training code (`method: {name: compact, reading: authors}`)

Prints a markdown table: per reading and teacher, the mean α and how often it is the question's smallest; then the
mean |Δα| between each two readings (over every question and path) and per teacher.

    python results/svamp_bad_teacher/readings_alpha.py ../runs-svamp/bad_teacher_corpus.jsonl > results/svamp_bad_teacher/readings_alpha.md
"""
import argparse, itertools, json, sys
import torch

READINGS = {'ours': dict(), 'paper': dict(sft_reduction='sum', cons_at='eos', cons_softmax='all', answer_span='gold', info_gold='alnum'),
            'authors': dict(reading='authors')}

def _alpha(m, model, b):
    "The weights of one batch under method `m`'s reading."
    from compact_nb.methods.compact import compact_loss
    from compact_nb.methods.compact_authors import authors_loss
    c = m.config
    if c.reading == 'authors': d = authors_loss(model, b, betas=c.betas, tau=c.tau, lam=0., eps=c.thinking_eps, return_details=True)[2]
    else: d = compact_loss(model, b, m.weighting, lam=0., sft_reduction=c.sft_reduction, mi_eps=c.thinking_eps,
                           cons_at=c.cons_at, cons_softmax=c.cons_softmax, return_details=True)[2]
    return d['alpha'].float()

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('corpus')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--max-length', type=int, default=384)
    a = p.parse_args(argv)
    from compact_nb.data.corpus import read_corpus
    from compact_nb.student.models import load_student, LoraSpec
    from compact_nb.methods.base import build_method, method_config
    exs = read_corpus(a.corpus)
    teachers = list(dict.fromkeys(t for e in exs for t in e.teachers))
    torch.manual_seed(0)
    model, tok = load_student('smollm2-135m', lora=LoraSpec(dropout=0.0), device='cpu')
    model.eval()
    A = {}
    for name, opts in READINGS.items():
        m = build_method(method_config('compact', **opts), teachers)
        col = m.collator(tok, teachers, a.max_length)
        A[name] = torch.cat([_alpha(m, model, col(exs[i:i + a.batch_size])) for i in range(0, len(exs), a.batch_size)])
        print(f"{name}: done", file=sys.stderr, flush=True)
    pm = torch.stack([torch.tensor([bool(e.rationales.get(t)) for t in teachers]) for e in exs])
    rows = ['| reading | ' + ' | '.join(f"α {t}" for t in teachers) + ' | smallest α of its question (' + ', '.join(teachers) + ') |',
            '|---|' + '---|' * len(teachers) + '---|']
    for name, x in A.items():
        low = torch.bincount(x.masked_fill(~pm, 2.).argmin(1), minlength=len(teachers)).tolist()
        mean = [(x[:, k] * pm[:, k]).sum() / pm[:, k].sum() for k in range(len(teachers))]
        rows.append(f"| {name} | " + ' | '.join(f"{v:.3f}" for v in mean) + ' | ' + ', '.join(map(str, low)) + ' |')
    rows += ['', '| readings | mean \\|Δα\\| (all paths) | ' + ' | '.join(teachers) + ' |', '|---|---|' + '---|' * len(teachers)]
    for u, v in itertools.combinations(A, 2):
        d = (A[u] - A[v]).abs()
        per = [(d[:, k] * pm[:, k]).sum() / pm[:, k].sum() for k in range(len(teachers))]
        rows.append(f"| {u} vs {v} | {(d * pm).sum() / pm.sum():.3f} | " + ' | '.join(f"{x:.3f}" for x in per) + ' |')
    print('\n'.join(rows))
    print('\n' + json.dumps({'questions': len(exs), 'paths': int(pm.sum()), 'teachers': teachers, 'uniform_share': 1 / len(teachers),
                             'student': 'smollm2-135m, fresh LoRA, eval mode', 'max_length': a.max_length}))

if __name__ == '__main__': sys.exit(main())
