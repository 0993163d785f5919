"""Does a student's final answer follow from its own steps?  For each SVAMP output that computes something
(`= N` before its final `The answer is` sentence) and has an extracted answer: whether the last computed N equals
that answer.  A crude reading of the outputs, not a verifier; it tells a student whose final sentence follows its
arithmetic from one that learnt to write the answer sentence regardless of its steps (as the Llama-2 path, wrong
steps followed by the gold sentence, teaches).  It prints a markdown table, one row per run folder:

    python results/svamp_bad_teacher/answer_follows_steps.py results/svamp_bad_teacher/bad-*/
"""
import re, sys
from pathlib import Path
from compact_nb.evaluation.records import read_records

COMPUTED = re.compile(r'=\s*\$?(-?\d+(?:,\d{3})*(?:\.\d+)?)(?![\d]|[.,]\d)(?!\s*[-+*/×x]\s*\d)')
# the whole number (no backtracking into its digits), and a result, not the first operand of an expression

def last_computed(output:str):
    "The last `= N` before the final answer sentence, as a float (None when the output computes nothing)."
    nums = COMPUTED.findall(output.rsplit('The answer is', 1)[0])
    return float(nums[-1].replace(',', '')) if nums else None

def follows(records)->tuple:
    "(outputs whose last computed value is their answer, outputs with both a computed value and an answer)."
    hit = n = 0
    for r in records:
        v = last_computed(r['output'])
        if v is None or r.get('extracted') is None: continue
        try: a = float(str(r['extracted']).replace(',', ''))
        except ValueError: continue
        n += 1
        hit += abs(v - a) < 1e-9
    return hit, n

def main(folders):
    print('| run | answer = last computed value | outputs that compute and answer | % |\n|---|---|---|---|')
    for f in folders:
        recs = read_records(Path(f)/'eval'/'svamp.jsonl')
        if not recs: continue
        hit, n = follows(recs.values())
        print(f"| {Path(f).name} | {hit} | {n} | {100 * hit / n:.0f} |" if n else f"| {Path(f).name} | 0 | 0 | – |")

if __name__ == '__main__': main(sys.argv[1:])
