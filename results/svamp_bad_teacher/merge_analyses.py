"""Merge `compact_nb analyze` output folders that were run at different times against the same base student, into one
folder with every model side by side (tables, figures, JSON) — for when the adapters of earlier students are gone.

The folders must agree on everything that defines the measurement: the base (its name and model), the ID and OOD
question sets, pooling, number of components, and the MI options; the base's own PCA (explained variance and centroids
per layer) and trajectories must agree to `--tol` (relative), which checks that each folder measured the same basis.
A model name present in two folders must be the same model; the first folder's copy is kept.

    python results/svamp_bad_teacher/merge_analyses.py results/svamp_bad_teacher/analysis-s0 \
        results/svamp_bad_teacher/analysis-s0-single-mot --out results/svamp_bad_teacher/analysis-s0-all
"""
import argparse, json, math, sys
from pathlib import Path
from compact_nb.evaluation.analyze_cli import write_pca, write_mi

SAME = ['id_set', 'ood_set', 'source', 'limit', 'seed', 'components', 'pool', 'mi_questions', 'mi_set', 'max_new_tokens',
        'info_gold', 'thinking_eps']

def close(a, b, tol):
    "Nested dicts / lists / numbers equal to a relative tolerance."
    if isinstance(a, dict): return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list): return isinstance(b, list) and len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)

def fail(msg): raise SystemExit(f"merge_analyses: {msg}")

def merge_pca(runs:list, tol:float)->dict:
    first = runs[0][1]
    res = {k: first[k] for k in ('models', 'sets', 'layers', 'components', 'explained', 'shift', 'shift_full', 'centroid', 'last_layer')}
    res['models'] = list(res['models'])
    base, specs = first['models'][0], dict(first['specs'])
    for path, d in runs[1:]:
        if d['models'][0] != base or d['specs'][base] != first['specs'][base]:
            fail(f"{path}: base {d['models'][0]}={d['specs'][d['models'][0]]}, {runs[0][0]} has {base}={first['specs'][base]}")
        for k in SAME:
            if d['config'].get(k) != first['config'].get(k): fail(f"{path}: option {k} = {d['config'].get(k)!r}, {runs[0][0]} has {first['config'].get(k)!r}")
        if d['set_labels'] != first['set_labels'] or d['sets'] != first['sets'] or d['layers'] != first['layers']:
            fail(f"{path}: other question sets or layers than {runs[0][0]}")
        if not close(d['explained'], first['explained'], tol) or not close(d['centroid'][base], first['centroid'][base], tol):
            fail(f"{path}: the base's PCA differs from {runs[0][0]}'s beyond {tol} (not the same basis)")
        for m in d['models'][1:]:
            if m in res['models']:
                if d['specs'][m] != specs[m]: fail(f"{path}: model name {m!r} names another model")
                continue
            res['models'].append(m)
            specs[m] = d['specs'][m]
            for k in ('shift', 'shift_full', 'centroid', 'last_layer'): res[k][m] = d[k][m]
    return res

def merge_mi(runs:list, tol:float)->dict:
    first = runs[0][1]['trajectories']
    traj = dict(first)
    base = next(iter(first))
    for path, d in runs[1:]:
        t = d['trajectories']
        if [e['qid'] for e in t[base]] != [e['qid'] for e in first[base]]: fail(f"{path}: MI trajectories on other questions")
        if not close([e['info'] for e in t[base]], [e['info'] for e in first[base]], tol): fail(f"{path}: the base's trajectories differ beyond {tol}")
        for m, e in t.items(): traj.setdefault(m, e)
    return traj

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('folders', nargs='+', type=Path, help='analysis folders, the first one\'s models first')
    ap.add_argument('--out', type=Path, required=True, help='the merged folder')
    ap.add_argument('--tol', type=float, default=1e-3, help='relative tolerance on the base\'s own numbers')
    a = ap.parse_args(argv)
    if len(a.folders) < 2: fail("give at least two folders")
    pca = [(p, json.loads((p/'pca_shift.json').read_text())) for p in a.folders]
    a.out.mkdir(parents=True, exist_ok=True)
    first = pca[0][1]
    specs = {}
    for _, d in pca:
        for m, s in d['specs'].items(): specs.setdefault(m, s)
    info = {k: first[k] for k in ('base', 'set_labels', 'set_names', 'pooling')}
    info.update(specs=specs, config={**first['config'], 'models': [f"{m}={specs[m]}" for m in specs]},
                merged_from=[str(p) for p in a.folders])
    files = write_pca(merge_pca(pca, a.tol), a.out, info)
    mi = [(p, json.loads((p/'mi_trajectories.json').read_text())) for p in a.folders if (p/'mi_trajectories.json').exists()]
    if len(mi) != len(pca): print(f"merge_analyses: MI trajectories in {len(mi)} of {len(pca)} folders: not merged", file=sys.stderr)
    else:
        m0 = mi[0][1]
        files += write_mi(merge_mi(mi, a.tol), a.out, {k: v for k, v in m0.items() if k != 'trajectories'} | {'merged_from': info['merged_from']})
    for f in files: print(f)

if __name__ == '__main__': main()
