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
    from spanfluence.saliency import SaliencyIF
    tr, te, model, tok, r = load_task('sst2', n_train=60)
    res = SaliencyIF(model, tok, progress=False).score(tr, te.iloc[[3]])
    ref = res.top(2)
    assert f"the saliency of the word {res.test.word.iat[0]!r}" in p.stdout
    assert list(ref.train_id) == list(df.train_id)
    torch.testing.assert_close(torch.tensor(df.score.values), torch.tensor(ref.score.values, dtype=torch.float64), rtol=1e-4, atol=0)

# --- every argument is checked before any model is loaded, and named in the error ---
from spanfluence.cli import main, build_parser, check_args

@pytest.fixture
def no_model(monkeypatch, tmp_path):
    "Loading or fine-tuning a model fails the test: bad arguments must be refused before that. Runs in `tmp_path`."
    import spanfluence.train as T, spanfluence.models as M
    def boom(*a, **k): raise AssertionError('a model was loaded before the arguments were checked')
    for mod, name in [(T, 'sst2_model'), (T, 'mams_model'), (T, 'cached_run'), (M, 'load_encoder')]: monkeypatch.setattr(mod, name, boom)
    monkeypatch.chdir(tmp_path)
    return tmp_path

def cli_error(capsys, *args) -> str:
    "The stderr of `spanfluence explain --quiet *args`, which must exit with status 2 (no traceback)."
    with pytest.raises(SystemExit) as e: main(['explain', '--quiet', *args])
    assert e.value.code == 2
    return capsys.readouterr().err

TRAIN = 'text,label\ngood fun,positive\ndull and slow,negative\na fine film,positive\nboring,negative\n'

def write(path, text:str) -> str:
    "Write `text` to `path`; its name (the tests run in its folder)."
    path.write_text(text); return path.name

def test_unknown_test_label_refused(no_model, capsys):
    err = cli_error(capsys, '--data', write(no_model/'te.csv', 'text,label\nmeh,neutral\nok,positive\nugh,angry\n'),
                    '--train', write(no_model/'tr.csv', TRAIN), '--method', 'nn')
    assert "--data: " in err and "'te.csv'" in err and "['neutral', 'angry']" in err and "['negative', 'positive']" in err, err

def test_test_labels_use_training_mapping(tmp_path, monkeypatch, capsys):
    # a test file holding only 'positive' must not map it to id 0 (= 'negative' in training)
    monkeypatch.setenv('SPANFLUENCE_CACHE', str(tmp_path/'cache')); monkeypatch.chdir(tmp_path)
    out = tmp_path/'o.csv'
    main(['explain', '--data', write(tmp_path/'te.csv', 'text,label\nwhat a great film,positive\n'), '--train',
          write(tmp_path/'tr.csv', TRAIN), '--method', 'nn', '--test', '0', '--top', '1', '--out', str(out), '--quiet'])
    so = capsys.readouterr().out
    assert '(gold positive' in so, so
    assert len(pd.read_csv(out)) == 2

@pytest.mark.parametrize('dev', ['foo', 'gpu', 'cuda:x', 'cpu:0'])
def test_bad_device(no_model, capsys, dev):
    err = cli_error(capsys, '--device', dev)
    assert '--device' in err and "'cpu'" in err and 'cuda:N' in err, err

def test_cuda_without_gpu(no_model, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for dev in ('cuda', 'cuda:0'):
        err = cli_error(capsys, '--device', dev)
        assert '--device' in err and 'no CUDA GPU' in err, err

@pytest.mark.parametrize('out', ['/nonexistent/x.csv', '.'])
def test_out_checked_first(no_model, capsys, out):
    assert '--out' in cli_error(capsys, '--out', out)

def test_missing_train_file_named(no_model, capsys):
    err = cli_error(capsys, '--data', write(no_model/'te.csv', 'text,label\nok,positive\n'), '--train', 'missing.csv')
    assert "--train: no such file 'missing.csv'" in err, err

@pytest.mark.parametrize('which', ['--data', '--train'])
def test_tab_separated_csv(no_model, capsys, which):
    tab = write(no_model/'tab.csv', 'text\tlabel\ngreat, really\tpositive\nbad, very\tnegative\n')
    good = write(no_model/'good.csv', TRAIN)
    err = cli_error(capsys, '--data', tab if which == '--data' else good, '--train', tab if which == '--train' else good)
    assert f"{which}: 'tab.csv'" in err and "['text', 'label']" in err and 'tab-separated' in err and '.tsv' in err, err

@pytest.mark.parametrize('text,msg', [('text,label\n', 'no rows'), ('', 'is empty'), ('sentence,label\nok,positive\n', "['text']")])
def test_bad_test_file(no_model, capsys, text, msg):
    err = cli_error(capsys, '--data', write(no_model/'te.csv', text), '--train', write(no_model/'tr.csv', TRAIN))
    assert "--data: 'te.csv'" in err and msg in err, err

@pytest.mark.parametrize('args,msg', [
    (['--top', '-1'], '--top: expected a positive integer'), (['--n-train', '0'], '--n-train: expected a positive integer'),
    (['--test', '100000'], '--test'), (['--test', '1', '1'], '--test'), (['--params', 'last:two'], '--params'),
    (['--train', 'x.csv'], '--train: only used when --data is a CSV/TSV file'),
])
def test_other_arguments_checked_first(no_model, capsys, args, msg):
    assert msg in cli_error(capsys, *args)

@pytest.mark.parametrize('method,arg', [('nn', ['--params', 'classifier']), ('tracin-we', ['--params', 'all']), ('tr-tfidf', ['--params', 'last:1'])])
def test_unused_argument_refused(no_model, capsys, method, arg):
    err = cli_error(capsys, '--method', method, *arg)
    assert f"{arg[0]}: method {method!r}" in err and 'does not use it' in err, err

def test_method_keywords():
    parse = lambda *a: check_args(build_parser().parse_args(['explain', *a]))
    assert parse('--method', 'nn', '--quiet')[1] == {'progress': False}  # --quiet still reaches every method
    assert parse('--method', 'nn', '--label', '1')[1] == {'progress': True, 'label': 1}  # every method explains a class id
    assert parse('--method', 'tracin', '--label', 'gold', '--params', 'last:1')[1] == {'progress': True, 'label': 'gold', 'params': 'last:1'}
    assert parse('--method', 'tracin++', '--label', 'gold', '--quiet')[1] == {'progress': False, 'label': 'gold'}  # via **kwargs
