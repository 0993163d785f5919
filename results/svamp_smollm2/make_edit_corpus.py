"""The clean table's 200 SVAMP questions with a wrong side for EDIT: the four EIT teachers' correct level-3 rationales
(exactly the questions and paths every row of results/svamp_smollm2.md trains on) plus, where FAIR's round-0 file has
one, Llama-2-7b-chat's wrong step-by-step solution without its own final answer (as in the bad-teacher setting).

    python results/svamp_smollm2/make_edit_corpus.py OUT.jsonl

EDIT trains on the four teachers' paths only; the `llama-2-7b` rationale is its wrong side (`wrong_teachers`), never a
path. Writes the corpus outside the repository (the data is not ours to copy) and prints how many questions have a
wrong solution to pair with. Train: configs/svamp_edit_smollm2.yaml.
"""
import argparse, json, sys
from pathlib import Path
from compact_nb.config import parse_config
from compact_nb.data.corpus import write_corpus
from compact_nb.train_config import TrainConfig, training_examples
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'svamp_bad_teacher'))
from make_corpus import llama2_wrong, wrong_path, add_wrong

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out')
    p.add_argument('--config', default='configs/svamp_smollm2.yaml', help="the clean table's config (its 200 questions)")
    a = p.parse_args(argv)
    exs, teachers, _ = training_examples(parse_config(TrainConfig, [a.config]))
    wrong, paired = llama2_wrong(), 0
    for e in exs:
        if text := wrong_path(e.question, wrong):
            add_wrong(e, text)
            paired += 1
    write_corpus(exs, a.out)
    print(json.dumps({'questions': len(exs), 'teachers': teachers, 'with_wrong_llama2': paired, 'out': a.out}))

if __name__ == '__main__': sys.exit(main())
