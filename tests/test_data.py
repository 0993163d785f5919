"""The data layer against the real corpora in ../shared/data (skips with a reason when it is absent)."""
import pytest
from compact_nb.data.core import TaskKind, question_key
from compact_nb.data.answers import normalize_answer
from compact_nb.data.fair import load_fair
from compact_nb.data.eit import load_eit, EIT_DATASETS, default_level, read_json_records, repair_escapes
from compact_nb.data.curation import filter_correct, complete_examples, corpus_summary
from compact_nb.data.benchmarks import BENCHMARKS, load_benchmark, subset_indices
import compact_nb.data.benchmarks as benchmarks

# (questions returned at the default level, questions the corpus has, teachers)
EXPECTED = {'svamp': (700, 700, 4), 'strategyqa': (1999, 1999, 4), 'math': (1297, 1297, 4),
            'gsm8k': (6943, 7442, 2), 'csqa': (9715, 9740, 2)}

@pytest.mark.parametrize('dataset', EIT_DATASETS)
def test_every_corpus_loads(shared, dataset):
    exs, rep = load_eit(dataset, data_dir=shared/'teachers')
    n, universe, k = EXPECTED[dataset]
    assert (rep.questions, len(exs), len(rep.teachers)) == (n, n, k)
    assert rep.questions + len(rep.no_gold) + rep.excluded == universe
    assert len({e.qid for e in exs}) == n
    assert all(normalize_answer(e.gold, e.kind) is not None for e in exs)
    assert all(normalize_answer(e.gold, e.kind) == e.gold for e in exs if e.kind is not TaskKind.math)
    assert all(r.level == (None if r.teacher == 'human' or (dataset == 'math' and r.teacher == 'gpt-4o') else str(default_level(dataset)))
               for e in exs for rs in e.rationales.values() for r in rs)

def test_alignment_is_by_question(shared):
    "GPT-4o's SVAMP level-3 file has 699 records for 700 questions; every rationale sits under its own question."
    exs, rep = load_eit('svamp', levels=(3,), data_dir=shared/'teachers')
    assert dict(rep.missing) == {'gpt-4o': 1} and rep.n_incomplete == 1
    recs = read_json_records(shared/'teachers'/'SVAMP_ChatGPT_level3_ranked.json')
    by_q = {question_key(r['instruction']): repair_escapes(r['output'])[0].strip() for r in recs}
    for e in exs:
        for r in e.rationales.get('gpt-4o', []):
            assert r.text.strip() == by_q[question_key(e.question)]

def test_strategyqa_test_questions_held_out(shared):
    exs, rep = load_eit('strategyqa', data_dir=shared/'teachers')
    test_qs = {question_key(e.question) for e in load_benchmark('strategyqa', source=shared/'benchmarks')}
    assert rep.held_out == 290 and not test_qs & {question_key(e.question) for e in exs}

def test_svamp_level3_filter_matches_readme(shared):
    "Data README: SVAMP level 3 correct = GPT-4o 685/699, Gemini 693/700, LLaMA 691/700."
    exs, _ = load_eit('svamp', teachers=['gpt-4o', 'gemini', 'llama'], levels=(3,), data_dir=shared/'teachers')
    stated = {r['teacher']: (r['kept'], r['total']) for r in filter_correct(exs)[1].rows()}
    assert stated == {'gpt-4o': (685, 699), 'gemini-1.5-flash': (693, 700), 'llama-3-70b': (691, 700)}
    # extract_answer also accepts 'The answer is 81 - 60 = 21' (the equation's result): 3 + 6 more
    extract = {r['teacher']: (r['kept'], r['total']) for r in filter_correct(exs, 'extract')[1].rows()}
    assert extract == {'gpt-4o': (688, 699), 'gemini-1.5-flash': (693, 700), 'llama-3-70b': (697, 700)}

def test_training_set_of_200(shared):
    exs, _ = load_eit('svamp', teachers=['gpt-4o', 'gemini', 'llama'], levels=(3,), data_dir=shared/'teachers')
    ok, _ = filter_correct(exs)
    a = complete_examples(ok, ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b'], n=200, seed=0)
    b = complete_examples(ok, ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b'], n=200, seed=0)
    assert [e.qid for e in a] == [e.qid for e in b] and len(a) == 200
    assert all(e.teachers == ['gpt-4o', 'gemini-1.5-flash', 'llama-3-70b'] for e in a)

def test_math_repairs(shared):
    exs, rep = load_eit('math', data_dir=shared/'teachers')
    texts = [r.text for e in exs for rs in e.rationales.values() for r in rs]
    assert not any('\x0c' in t or '\x08' in t for t in texts)
    assert rep.repairs['form feed -> \\f'] > 100 and rep.gold_counts['boxed (output truncated)'] == 70

def test_fair(shared):
    items, rep = load_fair('svamp', data_dir=shared/'fair')
    assert rep['questions'] == 387 and rep['acceptance_mismatch'] == []
    assert all(len(it.feedback) == 3 and len(it.example.teachers) == 3 for it in items)
    assert all(isinstance(r.meta['peer_scores'], dict) for it in items for rs in it.example.rationales.values() for r in rs)

def test_corpus_summary(shared):
    rows = corpus_summary(3, data_dir=shared/'teachers')
    assert [r['corpus'] for r in rows] == list(EIT_DATASETS)
    assert all(r['kept'] + r['dropped'] == r['rationales'] for r in rows)

@pytest.mark.parametrize('name', list(BENCHMARKS))
def test_benchmark_counts_and_gold(shared, name):
    b = load_benchmark(name, source=shared/'benchmarks')
    assert len(b) == {'gsm8k': 1319, 'svamp': 300, 'math500': 500, 'csqa': 1221, 'strategyqa': 290, 'gpqa_diamond': 198}[name]
    assert all(normalize_answer(e.gold, e.kind) is not None for e in b)
    assert all(normalize_answer(e.gold, e.kind) == e.gold for e in b if e.kind is not TaskKind.math)
    assert all(e.kind == TaskKind(BENCHMARKS[name]['kind']) for e in b)
    if b[0].kind is TaskKind.choice: assert all(e.gold in dict(e.choices) for e in b)

def test_benchmark_subset(shared):
    b = load_benchmark('math500', source=shared/'benchmarks', limit=20, seed=3)
    full = load_benchmark('math500', source=shared/'benchmarks')
    assert b.ids == [full[i].qid for i in subset_indices(500, 20, 3)]

def test_hub_path_converts_hub_rows(monkeypatch):
    "No network here: the hub call is replaced by rows in the layout the hub serves."
    rows = {'tau/commonsense_qa': [{'id': 'x1', 'question': 'Where?', 'question_concept': 'c',
                                    'choices': {'label': ['A', 'B'], 'text': ['here', 'there']}, 'answerKey': 'B'}],
            'HuggingFaceH4/MATH-500': [{'problem': 'p', 'solution': r'\boxed{2}', 'answer': '2', 'subject': 's', 'level': 1, 'unique_id': 'u1'}]}
    monkeypatch.setattr(benchmarks, '_hub_rows', lambda hub_id, config, split: rows[hub_id])
    c = load_benchmark('csqa', source='hub')
    assert (c[0].question, c[0].choices, c[0].gold, c.source) == ('Where?', [('A', 'here'), ('B', 'there')], 'B', 'tau/commonsense_qa::validation')
    assert load_benchmark('math500', source='HuggingFaceH4/MATH-500').ids == ['u1']
