"""Corpus files: every kind of bad input is one `DataError` naming the file and the line, raised before anything is
trained; teacher names, repeated rationales, teacher selection and the correctness filter behave as documented."""
import gzip, json, warnings
import pytest
from compact_nb.data.core import DataError
from compact_nb.data.corpus import read_corpus
from compact_nb.data.curation import filter_correct

OK = dict(question='2+2?', answer='4', rationales=[dict(teacher='t1', text='2+2=4. The answer is 4')])


def write(tmp_path, records, name='c.jsonl'):
    p = tmp_path/name
    p.write_text(''.join((r if isinstance(r, str) else json.dumps(r)) + '\n' for r in records), encoding='utf-8')
    return p


def error(path, **kw)->str:
    with pytest.raises(DataError) as e: read_corpus(path, **kw)
    return str(e.value)


@pytest.mark.parametrize('record,message', [
    ({**OK, 'choices': 5}, "c.jsonl:2: field 'choices' must be a list of [label, text] pairs, got 5"),
    ({**OK, 'choices': [['A', 'x'], 'B']}, "c.jsonl:2: field 'choices' must be a list of [label, text] pairs"),
    ({**OK, 'rationales': [dict(teacher='t1', text='4', meta=[1, 2])]}, "c.jsonl:2: rationale 0: field 'meta' must be a mapping (a JSON object), got list"),
    ({**OK, 'rationales': [dict(teacher='t1', text='4', level=[3])]}, "c.jsonl:2: rationale 0: field 'level' must be text or an integer, got list"),
    ({**OK, 'rationales': [dict(teacher='t1', txt='4')]}, "c.jsonl:2: rationale 0: unknown field 'txt'"),
    ({**OK, 'rationales': 'none'}, "c.jsonl:2: field 'rationales' must be a list, got str"),
    ({**OK, 'question': ['2+2?']}, "c.jsonl:2: field 'question' must be text, got list"),
    ({**OK, 'answer': '3 to 5', 'kind': 'numeric'}, "c.jsonl:2: unparseable gold answer '3 to 5' for a numeric question"),
    ({**OK, 'answer': '12:30', 'kind': 'numeric'}, "c.jsonl:2: unparseable gold answer '12:30' for a numeric question"),
    ({**OK, 'answer': '0x10', 'kind': 'numeric'}, "c.jsonl:2: unparseable gold answer '0x10' for a numeric question"),
    ({**OK, 'answer': '[11]', 'kind': 'numeric'}, "c.jsonl:2: unparseable gold answer '[11]' for a numeric question"),
    ({**OK, 'answer': '1,5', 'kind': 'numeric'}, "c.jsonl:2: unparseable gold answer '1,5' for a numeric question"),
    ({**OK, 'answer': 'E', 'choices': [['A', 'x'], ['B', 'y']]}, "c.jsonl:2: gold answer 'E' is not one of the choice labels ['A', 'B']"),
])
def test_bad_record_names_file_and_line(tmp_path, record, message):
    p = write(tmp_path, [{**OK, 'question': 'first?'}, record])
    assert message in error(p)


def test_clean_numbers_are_gold(tmp_path):
    p = write(tmp_path, [{**OK, 'answer': '1e3', 'kind': 'numeric'}, {**OK, 'question': 'b?', 'answer': ' 1,234 '},
                         {**OK, 'question': 'c?', 'answer': 7}])
    assert [e.gold for e in read_corpus(p)] == ['1000', '1234', '7']


def test_files_that_are_not_utf8_jsonl(tmp_path):
    (tmp_path/'latin1.jsonl').write_bytes(json.dumps(OK).encode() + b'\n' + '{"question": "caf\u00e9?"}\n'.encode('latin-1'))
    assert 'latin1.jsonl:2: not UTF-8 text (invalid continuation byte at byte 18 of the line)' in error(tmp_path/'latin1.jsonl')
    (tmp_path/'c.jsonl.gz').write_bytes(gzip.compress(json.dumps(OK).encode() + b'\n'))
    assert error(tmp_path/'c.jsonl.gz').endswith('c.jsonl.gz: gzip-compressed file, not a JSON Lines text file: decompress it first')
    (tmp_path/'dir.jsonl').mkdir()
    assert error(tmp_path/'dir.jsonl').endswith('dir.jsonl: is a directory, not a corpus file')
    (tmp_path/'bom.jsonl').write_bytes(b'\xef\xbb\xbf' + json.dumps(OK).encode() + b'\n')
    assert [e.gold for e in read_corpus(tmp_path/'bom.jsonl')] == ['4']


TWO = [dict(question='2+2?', answer='4', rationales=[dict(teacher='alpha', text='The answer is 4'), dict(teacher='beta', text='The answer is 4')]),
       dict(question='3+3?', answer='6', rationales=[dict(teacher='alpha ', text='The answer is 6')])]


def test_teacher_names(tmp_path):
    assert [e.teachers for e in read_corpus(write(tmp_path, TWO))] == [['alpha', 'beta'], ['alpha']]  # 'alpha ' is 'alpha'
    p = write(tmp_path, TWO + [dict(question='1+1?', answer='2', rationales=[dict(teacher='Alpha', text='2')])])
    assert "c.jsonl:3: teacher 'Alpha' differs from 'alpha' (line 1) only in case: use one spelling for one teacher" in error(p)


def test_teacher_selection(tmp_path):
    p = write(tmp_path, TWO)
    assert [e.teachers for e in read_corpus(p, teachers=['beta'])] == [['beta'], []]
    assert [e.teachers for e in read_corpus(p, teachers={' alpha'})] == [['alpha'], ['alpha']]
    assert error(p, teachers=['alpha', 'gamma']).endswith("c.jsonl: teacher 'gamma' has no rationale in c.jsonl; teachers present: ['alpha', 'beta']")
    assert "teacher 'ALPHA' has no rationale in c.jsonl (did you mean 'alpha'? names are case-sensitive)" in error(p, teachers=['ALPHA'])


def test_warnings(tmp_path):
    again = {**OK, 'rationales': [dict(teacher='t1', text='again: the answer is 4')]}
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        exs = read_corpus(write(tmp_path, [OK, again]))
    assert len(exs[0].rationales['t1']) == 2
    assert [str(w.message).split(': ', 1)[1] for w in ws] == [
        "1 question(s) have more than one rationale from the same teacher (first: 't1' x2 at line 1); training uses each teacher's first rationale of a question"]
    apart = [OK, dict(question='3+3?', answer='6', rationales=[dict(teacher='t2', text='The answer is 6')])]
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        read_corpus(write(tmp_path, apart))
    assert [str(w.message).endswith("no question has rationales from two or more of the teachers ['t1', 't2']: "
                                    "multi-teacher weighting then reduces to plain SFT on each path") for w in ws] == [True]
    with warnings.catch_warnings():
        warnings.simplefilter('error') # a proper two-teacher corpus: silent
        read_corpus(write(tmp_path, TWO))


def test_eval_file_without_rationales(tmp_path):
    exs = read_corpus(write(tmp_path, [dict(question='2+2?', answer='4'), dict(question='Pick', answer='b', choices=[['A', 'x'], ['B', 'y']])]))
    assert [(e.gold, e.kind.value, e.rationales) for e in exs] == [('4', 'numeric', {}), ('B', 'choice', {})]


def test_gold_source_in_a_file_does_not_bypass_the_filter(tmp_path):
    "A line that claims meta.gold_source for a wrong rationale: the rationale is still checked, and dropped."
    p = write(tmp_path, [dict(question='2+2?', answer='4', rationales=[
        dict(teacher='liar', text='The answer is 5', meta={'gold_source': True}),
        dict(teacher='honest', text='2+2=4. The answer is 4')])])
    kept, rep = filter_correct(read_corpus(p))
    assert kept[0].teachers == ['honest']
    assert (rep.kept['liar'], rep.dropped['liar']) == (0, 1)
