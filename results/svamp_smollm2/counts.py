"""The counts quoted in the Reading of results/svamp_smollm2.md, recomputed from the committed records:
ranges, answer rates, paired SVAMP sign tests over all trained runs, option-scoring tests against the base, and per
run the equation-style outputs, mean words and mean α.  Run from the repository root: `python results/svamp_smollm2/counts.py`."""
import json, itertools, statistics as st, re
from pathlib import Path
from compact_nb.evaluation.records import read_records
from compact_nb.evaluation.report import sign_test
R = Path('results/svamp_smollm2')
def done(p):
    try: return {'svamp','strategyqa','csqa'} <= set(json.load(open(p/'eval'/'summary.json'))['benchmarks'])
    except (OSError, KeyError, ValueError): return False
runs = [p for p in sorted(R.iterdir()) if p.is_dir() and done(p)]
trained = [p for p in runs if p.name != 'base']
rec = {(p.name, b): read_records(p/'eval'/f'{b}.jsonl') for p in runs for b in ['svamp','csqa','strategyqa']}
acc = lambda m, b: 100*sum(r['correct'] for r in rec[m,b].values())/len(rec[m,b])
print('runs', [p.name for p in runs])
print('SVAMP trained range', min(acc(p.name,'svamp') for p in trained), max(acc(p.name,'svamp') for p in trained), 'base', acc('base','svamp'))
print('SVAMP answer rate', min(100*sum(r['extracted'] is not None for r in rec[p.name,'svamp'].values())/300 for p in trained))
# pairwise SVAMP
pairs = list(itertools.combinations([p.name for p in trained], 2)); sig = []
for a, b in pairs:
    t = sign_test(rec[a,'svamp'], rec[b,'svamp'])
    if t['p'] < 0.05: sig.append((a, b, t['only_a'], t['only_b'], round(t['p'],3)))
print(len(pairs), 'pairs;', len(sig), 'p<0.05:', sig)
# answered accuracy OOD
for b, k in [('strategyqa', 2), ('csqa', 5)]:
    vals = []
    for p in runs:
        ans = [r for r in rec[p.name,b].values() if r['extracted'] is not None]
        if len(ans) >= 5: vals.append(100*sum(r['correct'] for r in ans)/len(ans))
    print(b, 'acc among answered (>=5)', round(min(vals)), round(max(vals)))
# options
orow = [p for p in runs if (p/'eval'/'csqa@options.jsonl').exists()]
o = {(p.name,b): read_records(p/'eval'/f'{b}@options.jsonl') for p in orow for b in ['csqa','strategyqa']}
for b in ['csqa','strategyqa']:
    a = [100*sum(r['correct'] for r in o[p.name,b].values())/len(o[p.name,b]) for p in orow]
    print('options', b, f'{min(a):.2f}-{max(a):.2f}')
osig, n = [], 0
for p in orow:
    if p.name == 'base': continue
    for b in ['csqa','strategyqa']:
        n += 1; t = sign_test(o['base',b], o[p.name,b])
        if t['p'] < 0.05: osig.append((p.name, b, t['only_a'], t['only_b'], round(t['p'],3)))
print('options paired vs base', n, 'sig', osig)
# ablations / style
T = ['gpt-4o','gemini-1.5-flash','llama-3-70b','human']
for p in trained:
    m = p/'metrics.jsonl'
    eq = sum(bool(re.match(r'\s*[\d(]', r['output'])) for r in rec[p.name,'svamp'].values())
    words = st.mean(len(r['output'].split()) for r in rec[p.name,'svamp'].values())
    al = ''
    if m.exists():
        rows = [json.loads(l) for l in open(m)]; rows = [r for r in rows if all(f'alpha/{t}' in r for t in T)]
        if rows: al = ' '.join(f"{t}={st.mean(r[f'alpha/{t}'] for r in rows):.3f}" for t in T)
    yn = 100*sum(r['extracted'] is not None for r in rec[p.name,'strategyqa'].values())/290
    print(f"{p.name}: svamp {acc(p.name,'svamp'):.2f} csqa {acc(p.name,'csqa'):.2f} sqa {acc(p.name,'strategyqa'):.2f} eq {eq} words {words:.0f} sqa-answered {yn:.1f}% {al}")
for a in ['compact-no-mi','compact-no-cons','compact-no-ppl']:
    if (a,'svamp') not in rec: continue
    for b in ['compact-s0','compact-s1','uniform-s0','uniform-s1','single-human','single-gpt-4o']:
        t = sign_test(rec[a,'svamp'], rec[b,'svamp']); print(f'  {a} vs {b}: {t["only_a"]} vs {t["only_b"]} p={t["p"]:.2g}')
