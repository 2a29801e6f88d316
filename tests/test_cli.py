"""The `spanfluence` console script, run as a user runs it."""
import os, subprocess, sys, shutil
from pathlib import Path
import pandas as pd
import pytest
import torch

EXE = shutil.which('spanfluence') or str(Path(sys.executable).parent/'spanfluence')

def run(*args, cwd):
    return subprocess.run([EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, HF_HUB_OFFLINE='1'))

def test_explain_sst2_matches_api(tmp_path):
    out = tmp_path/'res.csv'
    p = run('explain', '--data', 'sst2', '--method', 'tracin', '--test', '0', '5', '--top', '3', '--n-train', '120',
            '--out', str(out), '--quiet', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'top proponents' in p.stdout and 'top opponents' in p.stdout
    df = pd.read_csv(out)
    assert list(df.columns[:5]) == ['test_id', 'rank', 'train_id', 'score', 'kind']
    assert df.groupby('test_id').size().tolist() == [6, 6]
    # the CLI's numbers are the library's numbers: recompute the same scores through the Python API
    from spanfluence.cli import load_task
    from spanfluence.tracin import TracIn
    tr, te, model, tok, r = load_task('sst2', n_train=120)
    res = TracIn(model, tok, params='last:2', checkpoints=r, progress=False).score(tr, te.iloc[[0, 5]])
    ref = res.top(3)
    assert list(ref.train_id) == list(df.train_id)
    torch.testing.assert_close(torch.tensor(df.score.values), torch.tensor(ref.score.values, dtype=torch.float64), rtol=1e-4, atol=0)

@pytest.mark.parametrize('args,msg', [
    (['--test', '100000'], '--test'),
    (['--method', 'astrology'], '--method'),
    (['--top', '0'], '--top'),
    (['--data', 'missing.csv', '--train', 'missing.csv'], '--data'),
])
def test_bad_arguments(tmp_path, args, msg):
    p = run('explain', '--quiet', *args, cwd=tmp_path)
    assert p.returncode == 2
    assert msg in p.stderr, p.stderr[-2000:]

def test_explain_tracin_we(tmp_path):
    out = tmp_path/'we.csv'
    p = run('explain', '--method', 'tracin-we', '--test', '1', '--top', '2', '--n-train', '60', '--out', str(out), '--quiet', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    df = pd.read_csv(out)
    assert len(df) == 4 and (df['kind'].iloc[:2] == 'proponent').all()
    from spanfluence.cli import load_task
    from spanfluence.tracin_we import TracInWE
    tr, te, model, tok, r = load_task('sst2', n_train=60)
    ref = TracInWE(model, tok, checkpoints=r, progress=False).score(tr, te.iloc[[1]]).top(2)
    torch.testing.assert_close(torch.tensor(df.score.values), torch.tensor(ref.score.values, dtype=torch.float64), rtol=1e-4, atol=0)

def test_explain_saliency_if(tmp_path):
    out = tmp_path/'sal.csv'
    p = run('explain', '--method', 'saliency-if', '--test', '3', '--top', '2', '--n-train', '60', '--out', str(out), '--quiet', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'the saliency of the word' in p.stdout
    df = pd.read_csv(out)
    from spanfluence.cli import load_task
    from spanfluence.influence import SaliencyIF
    tr, te, model, tok, r = load_task('sst2', n_train=60)
    res = SaliencyIF(model, tok, progress=False).score(tr, te.iloc[[3]])
    ref = res.top(2)
    assert f"the saliency of the word {res.test.word.iat[0]!r}" in p.stdout
    assert list(ref.train_id) == list(df.train_id)
    torch.testing.assert_close(torch.tensor(df.score.values), torch.tensor(ref.score.values, dtype=torch.float64), rtol=1e-4, atol=0)
