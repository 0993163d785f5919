"""How far COMPACT's weights move between the readings of the paper's text that `CompactConfig` offers.

On the first N questions (seeded draw) of the SVAMP 4-teacher setting, with the real student (SmolLM2-135M-Instruct,
fresh LoRA = the base model) in eval mode: α of every path under our defaults and under each paper-literal reading
one at a time, then the mean |Δα| over paths, the largest |Δα|, and how many questions change their top teacher.
MCon's reading (answer span = whole suffix vs the answer's own tokens) does not enter α: for it, the MCon value of
each question and the share of the suffix KL sitting at the position that predicts the first suffix token.

    python bench/readings.py --n 8 [--write bench/RESULTS.md]
"""
import argparse, sys
import torch

READINGS = {'cons_softmax=all (eq. 4 softmax over every path)': dict(cons_softmax='all'),
            'info_gold=alnum (eq. 2 without punctuation pieces)': dict(info_gold='alnum'),
            'cons_at=eos (eq. 4 at the final token)': dict(cons_at='eos')}

def alphas(model, tok, exs, teachers, **kw):
    from compact_nb.methods.base import build_method, method_config
    m = build_method(method_config('compact', **kw), teachers)
    batch = m.collator(tok, teachers, 384)(exs)
    from compact_nb.methods.compact import compact_loss
    with torch.no_grad():
        _, _, d = compact_loss(model, batch, m.weighting, lam=0.1, mi_eps=m.config.thinking_eps, cons_at=m.config.cons_at,
                               cons_softmax=m.config.cons_softmax, return_details=True)
    return d, batch

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=8)
    p.add_argument('--write')
    a = p.parse_args()
    from compact_nb.train_config import TrainConfig, training_examples
    from compact_nb.student.models import load_student, LoraSpec
    exs, teachers, _ = training_examples(TrainConfig(data='eit:svamp', n_questions=a.n, levels=[3]))
    model, tok = load_student('smollm2-135m', lora=LoraSpec(dropout=0.0), device='cpu')
    model.eval()
    base, _ = alphas(model, tok, exs, teachers)
    rows = ['| reading | mean abs Δα | max abs Δα | questions whose top teacher changes |', '|---|---|---|---|']
    for name, kw in READINGS.items():
        d, _ = alphas(model, tok, exs, teachers, **kw)
        diff = (d['alpha'] - base['alpha']).abs()
        flips = int((d['alpha'].argmax(1) != base['alpha'].argmax(1)).sum())
        rows.append(f"| {name} | {diff.mean():.3f} | {diff.max():.3f} | {flips} of {a.n} |")
    gold, _ = alphas(model, tok, exs, teachers, answer_span='gold')
    mc = f"MCon per question (λ-free, α-weighted KL): whole suffix {base['mcon'].mean():.3f}, answer tokens only {gold['mcon'].mean():.3f}"
    text = '\n'.join([f"### COMPACT's readings on {a.n} SVAMP questions (SmolLM2-135M base)", '',
                      f"Command: `python bench/readings.py --n {a.n}`. Default α per teacher (mean): " +
                      ', '.join(f"{t} {base['alpha'][:, k].mean():.3f}" for k, t in enumerate(teachers)), '', *rows, '', mc, ''])
    print(text)
    if a.write:
        with open(a.write, 'a') as f: f.write('\n' + text + '\n')

if __name__ == '__main__': sys.exit(main())
