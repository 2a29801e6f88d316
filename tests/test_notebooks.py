"""The notebooks as documentation: the sidebar names exactly the notebooks that exist, exported cells stay small, and
every notebook is committed with the outputs of its cells (the docs show what the code computes)."""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))


def cells(path):
    return json.loads(path.read_text())['cells']


def test_sidebar_names_the_notebooks_that_exist():
    named = re.findall(r'-\s+(\S+\.ipynb)', (ROOT/'_quarto.yml').read_text())
    assert len(named) == len(set(named)), named
    assert sorted(named) == sorted(p.name for p in NBS), (sorted(named), sorted(p.name for p in NBS))


@pytest.mark.parametrize('path', NBS, ids=lambda p: p.stem)
def test_exported_cells_are_small(path):
    sizes = [len(''.join(c['source']).splitlines()) for c in cells(path)
             if c['cell_type'] == 'code' and ''.join(c['source']).lstrip().startswith('#| export')]
    assert max(sizes, default=0) <= 80, (path.name, max(sizes))


@pytest.mark.parametrize('path', NBS, ids=lambda p: p.stem)
def test_committed_with_outputs(path):
    code = [c for c in cells(path) if c['cell_type'] == 'code']
    shown = [c for c in code if c.get('outputs')]
    # a notebook whose cells display something keeps it: at least one output, and no error output
    assert shown, f"{path.name}: no cell keeps its output (run tools/run_nbs.py, then nbdev_clean)"
    assert not [o for c in code for o in c.get('outputs', []) if o.get('output_type') == 'error'], path.name
