"""Every module of compact_nb imports in a fresh interpreter (catches imports that only exist in notebook cells),
and the data-only modules do not pull in torch or transformers."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted('.'.join(p.relative_to(ROOT/'compact_nb').with_suffix('').parts) for p in (ROOT/'compact_nb').rglob('*.py')
                 if not p.stem.startswith('_'))
DATA_ONLY = ['config', 'data.core', 'data.answers', 'data.corpus', 'data.eit', 'data.curation', 'data.fair', 'data.benchmarks', 'data.testbed',
             'evaluation.records', 'evaluation.report']

def test_no_import_cycle_between_evaluation_modules():
    "records is at the bottom: it imports no other evaluation module, and report does not import generation."
    import re
    def imports(m):
        src = (ROOT/'compact_nb'/'evaluation'/f'{m}.py').read_text()
        return set(re.findall(r'from \.(\w+) import|from compact_nb\.evaluation\.(\w+) import', src)) and \
               {a or b for a, b in re.findall(r'from \.(\w+) import|from compact_nb\.evaluation\.(\w+) import', src)}
    assert not imports('records') & {'generation', 'options', 'report'}, imports('records')
    assert 'generation' not in imports('report') | imports('options')
    assert 'records' in imports('report') and 'records' in imports('options')

def _run(code:str):
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

def test_modules_found():
    assert set(DATA_ONLY) <= set(MODULES), MODULES

@pytest.mark.parametrize('module', MODULES)
def test_module_imports_fresh(module):
    r = _run(f'import compact_nb.{module}')
    assert r.returncode == 0, f'import compact_nb.{module} failed:\n{r.stderr[-3000:]}'

def test_data_modules_do_not_import_torch():
    mods = ', '.join(['compact_nb'] + [f'compact_nb.{m}' for m in DATA_ONLY])
    r = _run(f"import sys; import {mods}; heavy = sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules); print(heavy)")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == '[]', f'data-only modules imported {r.stdout.strip()}'
