"""The bad-teacher SVAMP setting: 200 questions, five paths each — the four EIT teachers' correct level-3 rationales
and Llama-2-7b-chat's *wrong* step-by-step solution (FAIR's round-0 student errors) with its own final answer removed.
The student's answer suffix ("The answer is <gold>.") is appended to every path by the collator, so the Llama-2 path
is a convincing one that reaches the right final sentence through wrong steps.

    python results/svamp_bad_teacher/make_corpus.py OUT.jsonl [--n 200] [--seed 0]

Writes a corpus file in compact_nb's corpus format (outside the repository: the data is not ours to copy) and prints
how many questions qualified. Train on it with `data: OUT.jsonl, filter_correct: false` (the Llama-2 path must stay).
"""
import argparse, json, random, re, sys
from compact_nb.data.core import Rationale, question_key, shared_data
from compact_nb.data.eit import load_eit
from compact_nb.data.curation import filter_correct, complete_examples
from compact_nb.data.answers import strip_final_answer
from compact_nb.data.corpus import write_corpus

EIT = ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b', 'human']
BAD = 'llama-2-7b'

def clean_wrong(text:str, wrong:str)->str:
    "Llama-2's solution without its 'Answer: X' statement of the (wrong) final answer and without bare labels."
    body = strip_final_answer(text.strip()) or text.strip() # a trailing "... the answer is X" / "Answer: X"
    lines = [l.strip() for l in body.split('\n')]
    if lines: lines[0] = re.sub(r'^Answer\s*:\s*', '', lines[0])
    if lines and re.fullmatch(rf'\$?{re.escape(wrong)}\.?', lines[0]): lines = lines[1:] # "Answer: 12" first, then the working
    lines = [l for l in lines if not re.fullmatch(r'(Explanation|Solution|Answer)\s*:?', l)]
    return '\n'.join(lines).strip()

def llama2_wrong()->dict:
    "Llama-2-7b-chat's wrong round-0 SVAMP solutions (FAIR's student-error file), by question key."
    return {question_key(r['question']): r for r in json.load(open(shared_data('fair/llama2_7b_svamp_false_round0.json')))}

def wrong_path(question:str, wrong:dict):
    "The cleaned Llama-2 solution for `question` (None without one, or when too little is left to read as a solution)."
    r = wrong.get(question_key(question))
    if r is None: return None
    text = clean_wrong(r['student_wrong_pred'], str(r['student_wrong_final_answer']))
    return text if len(text.split()) >= 5 else None

def add_wrong(e, text:str):
    "Add `text` to example `e` as the `llama-2-7b` rationale."
    e.add(Rationale(BAD, text, meta={'source': 'FAIR llama2_7b_svamp_false_round0', 'wrong_final_answer': 'removed'}))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out')
    p.add_argument('--n', type=int, default=200)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    exs, _ = load_eit('svamp', teachers=EIT, levels=(3,))
    exs, _ = filter_correct(exs)
    full = complete_examples(exs, EIT, n=None, seed=a.seed)
    wrong = llama2_wrong()
    pool = [(e, text) for e in full if (text := wrong_path(e.question, wrong))]
    random.Random(a.seed).shuffle(pool)
    chosen = sorted(pool[:a.n], key=lambda x: x[0].qid)
    out = []
    for e, text in chosen:
        add_wrong(e, text)
        out.append(e)
    write_corpus(out, a.out)
    print(json.dumps({'eit_complete': len(full), 'with_wrong_llama2': sum(1 for e in full if question_key(e.question) in wrong),
                      'usable_after_cleaning': len(pool), 'written': len(out), 'out': a.out}))

if __name__ == '__main__': sys.exit(main())
