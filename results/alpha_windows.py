"""Per-teacher figures of trained runs, read from their metrics.jsonl: mean α over all steps and over a window of
steps, the mean of every other per-teacher record (COMPACT's raw scores `mi/`, `cons/`, `ppl/`; MIND's `score/` and
`selected/`), and the number of steps in which each teacher had the largest α.

    python results/alpha_windows.py results/svamp_smollm2/compact-s0 results/svamp_smollm2/mind-s*/
    python results/alpha_windows.py results/svamp_fair/fair-compact-s0 --first 151 --last 200

Each logged value is the mean over that step's questions (of the questions *having* that teacher's path, so with
missing paths the α of the teachers need not sum to 1); a figure here is the plain mean of those logged values over
the steps where the key is logged. Prints one markdown table per run.
"""
import argparse, json
from pathlib import Path

def mean(xs): return sum(xs) / len(xs) if xs else float('nan')

def step_records(run:Path)->list:
    "The training-step records of a run (those with a loss; the final summary record has none)."
    recs = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines() if l.strip()]
    return [r for r in recs if 'loss' in r and 'step' in r]

def per_teacher(recs:list)->tuple:
    "`(teachers, prefixes)`: the teachers with an α record and the per-teacher record kinds other than α, in log order."
    keys = list(dict.fromkeys(k for r in recs for k in r if '/' in k))
    teachers = [k.split('/', 1)[1] for k in keys if k.startswith('alpha/')]
    prefixes = list(dict.fromkeys(k.split('/', 1)[0] for k in keys if k.split('/', 1)[1] in teachers and not k.startswith('alpha/')))
    return teachers, prefixes

def table(run:Path, first:int, last:int)->str:
    recs = step_records(run)
    teachers, prefixes = per_teacher(recs)
    if not teachers: return f"{run.name}: no α records (a method without per-teacher weights)\n"
    window = [r for r in recs if first <= r['step'] <= last]
    top = {t: 0 for t in teachers}
    for r in recs:
        a = {t: r[f'alpha/{t}'] for t in teachers if f'alpha/{t}' in r}
        if a: top[max(a, key=a.get)] += 1
    head = ['teacher', f'α, steps {recs[0]["step"]}–{recs[-1]["step"]}', f'α, steps {first}–{last}'] + prefixes + ['steps with the largest α']
    out = [f"{run.name} ({len(recs)} steps)", '', '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for t in teachers:
        vals = lambda rs, p: [r[f'{p}/{t}'] for r in rs if f'{p}/{t}' in r]
        cells = [t, f"{mean(vals(recs, 'alpha')):.3f}", f"{mean(vals(window, 'alpha')):.3f}"]
        cells += [f"{mean(vals(recs, p)):.3f}" for p in prefixes] + [str(top[t])]
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out) + '\n'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('runs', nargs='+', help='run folders holding metrics.jsonl')
    p.add_argument('--first', type=int, default=151, help='first step of the window (default 151)')
    p.add_argument('--last', type=int, default=200, help='last step of the window (default 200)')
    a = p.parse_args(argv)
    for f in a.runs:
        run = Path(f)
        if not (run/'metrics.jsonl').exists(): raise SystemExit(f"{run}: no metrics.jsonl (not a run folder)")
        print(table(run, a.first, a.last))

if __name__ == '__main__': main()
