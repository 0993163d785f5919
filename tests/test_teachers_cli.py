"""`compact_nb generate`: options read by `config.parse_config` into `GenerateConfig`; every bad input is one line
`compact_nb generate: error: <message>` and exit code 2, before any request; an evaluation file without rationales
is a valid question set; the old command-line spellings still work."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, yaml

import compact_nb
from compact_nb.data.corpus import read_corpus
from compact_nb.teachers.generate import parse_generate, GenerateConfig
from teacher_proxy import FaultyProxy

ROOT = Path(compact_nb.__file__).parent.parent


def cli(*args, cwd):
    return subprocess.run([sys.executable, '-m', 'compact_nb.cli', 'generate', *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, 'PYTHONPATH': str(ROOT)})


@pytest.fixture
def files(tmp_path):
    (tmp_path/'teachers.yaml').write_text(yaml.safe_dump({'teachers': [{'name': 'a', 'model': 'm', 'base_url': 'http://127.0.0.1:9/v1'}]}))
    (tmp_path/'eval.jsonl').write_text(json.dumps({'id': 'e1', 'question': 'What is 2 + 2?', 'answer': '4'}) + '\n'
                                       + json.dumps({'question': 'What is 3 + 3?', 'answer': 6}) + '\n')
    return tmp_path


BASE = ['--config', 'teachers.yaml', '--questions', 'eval.jsonl', '--out', 'out.jsonl']

@pytest.mark.parametrize('args,message', [
    (['--questions', 'eval.jsonl', '--out', 'o.jsonl'], 'command line: teachers_file is required (--teachers-file or --config)'),
    (['--config', 'teachers.yaml', '--out', 'o.jsonl'], 'command line: questions is required (--questions)'),
    (BASE + ['--limit', '0'], 'command line: limit must be >= 1, got 0'),
    (BASE + ['--limit', 'ten'], 'command line: limit must be an integer'),
    (BASE + ['--threshold', 'nan'], 'command line: threshold must be a finite number'),
    (BASE + ['--threshold', '9'], 'command line: threshold must be in [0, 5) (a rationale is kept when its mean peer score, 1-5, is above it), got 9.0'),
    (BASE + ['--peer-review', 'maybe'], 'command line: peer_review must be true or false'),
    (BASE + ['--limt', '3'], "unrecognised argument '--limt'"),
    (BASE + ['--teachers', 'a,zed'], "teachers.yaml: --teachers: unknown teacher(s) ['zed'] (the file has ['a'])"),
    (['--config', 'teachers.yaml', '--questions', 'nope.jsonl', '--out', 'o.jsonl'], 'nope.jsonl: questions file not found'),
    (['--config', 'teachers.yaml', '--questions', 'eval.jsonl', '--out', 'eval.jsonl'], "out 'eval.jsonl' would overwrite the questions file"),
    (['--config', 'nope.yaml', '--questions', 'eval.jsonl', '--out', 'o.jsonl'], 'nope.yaml: config file not found'),
])
def test_bad_input_is_one_line_and_exit_2(files, args, message):
    r = cli(*args, cwd=files)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('compact_nb generate: error: ') and message in lines[0], r.stderr
    assert lines[0].count('compact_nb generate') == 1


def test_config_file_and_overrides(files):
    (files/'gen.yaml').write_text('teachers_file: teachers.yaml\nquestions: eval.jsonl\nout: out.jsonl\nthreshold: 4\npeer_review: true\n')
    cfg = parse_generate([str(files/'gen.yaml'), '--threshold', '4.5'])
    assert (cfg.teachers_file, cfg.threshold, cfg.peer_review) == (Path('teachers.yaml'), 4.5, True)
    (files/'typo.yaml').write_text('teachers_file: teachers.yaml\nquestions: eval.jsonl\nout: out.jsonl\nthreshhold: 4\n')
    r = cli(files/'typo.yaml', cwd=files)
    assert r.returncode == 2 and "typo.yaml: unknown option 'threshhold' (did you mean 'threshold'?)" in r.stderr


def test_old_spellings():
    old = parse_generate(['--config', 't.yaml', '--questions', 'svamp', '--out', 'o.jsonl', '--peer-review', '--keep-empty',
                          '--teachers', 'a, b', '--no-progress'])
    assert old == GenerateConfig(Path('t.yaml'), 'svamp', Path('o.jsonl'), teachers=['a', 'b'], peer_review=True,
                                 keep_empty=True, no_progress=True)


def test_eval_file_without_rationales(files):
    "An evaluation-format file (question, answer, no `rationales`) is a question set for `generate`."
    answer = lambda body, headers: f"2 + 2 = 4 and 3 + 3 = 6. The answer is {4 if '2 + 2' in body['messages'][-1]['content'] else 6}"
    with FaultyProxy(answer=answer) as server:
        (files/'teachers.yaml').write_text(yaml.safe_dump({'teachers': [{'name': 'a', 'model': 'm', 'base_url': server.base_url}]}))
        r = cli(*BASE, '--no-progress', 'true', cwd=files)
        n = len(server.log)
    assert r.returncode == 0, r.stderr
    assert n == 2
    assert [(e.qid, e.gold, e.teachers) for e in read_corpus(files/'out.jsonl')] == [('e1', '4', ['a']), ('eval-2', '6', ['a'])]
