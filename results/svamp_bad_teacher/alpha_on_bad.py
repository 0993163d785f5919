"""Mean α per teacher over training, for each run of the bad-teacher table (uniform share 1/5 = 0.2).

    python results/svamp_bad_teacher/alpha_on_bad.py results/svamp_bad_teacher/*/

Reads each run folder's metrics.jsonl (the per-step mean α of each teacher over that step's questions) and prints a
markdown table: α of every teacher averaged over all steps, over the first and the last 50 steps, and for MIND the
fraction of steps' questions whose Llama-2 path was selected.
"""
import json, sys
from pathlib import Path

BAD = 'llama-2-7b'

def mean(xs): return sum(xs) / len(xs) if xs else float('nan')

def rows(run:Path):
    recs = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines() if l.strip()]
    recs = [r for r in recs if 'loss' in r and any(k.startswith('alpha/') for k in r)]
    teachers = [k.split('/', 1)[1] for k in recs[0] if k.startswith('alpha/')] if recs else []
    return recs, teachers

def main(folders):
    runs = [Path(f) for f in folders if (Path(f)/'metrics.jsonl').exists()]
    out = ['| run | steps | ' + ' | '.join(['α ' + BAD + ' (all)', 'first 50', 'last 50', 'selected (MIND)']) + ' | α of the others (all steps) |',
           '|---|---|---|---|---|---|---|']
    for run in runs:
        recs, teachers = rows(run)
        if not recs: continue
        a = [r[f'alpha/{BAD}'] for r in recs if f'alpha/{BAD}' in r]
        if not a: # a run without the bad path (single-teacher)
            out.append(f"| {run.name} | {len(recs)} | – (no {BAD} path) | – | – | – | " +
                       ', '.join(f"{t} {mean([r[f'alpha/{t}'] for r in recs]):.3f}" for t in teachers) + ' |')
            continue
        sel = [r[f'selected/{BAD}'] for r in recs if f'selected/{BAD}' in r]
        others = ', '.join(f"{t} {mean([r[f'alpha/{t}'] for r in recs if f'alpha/{t}' in r]):.3f}" for t in teachers if t != BAD)
        out.append(f"| {run.name} | {len(recs)} | {mean(a):.3f} | {mean(a[:50]):.3f} | {mean(a[-50:]):.3f} | "
                   f"{mean(sel):.3f} | {others} |" if sel else
                   f"| {run.name} | {len(recs)} | {mean(a):.3f} | {mean(a[:50]):.3f} | {mean(a[-50:]):.3f} | – | {others} |")
    print('\n'.join(out))

if __name__ == '__main__': main(sys.argv[1:])
