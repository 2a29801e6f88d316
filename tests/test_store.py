"""The feature store and the JL projection of `spanfluence.store`, through `spanfluence.engine.score_units` and a method.

References: the engine without a store (exact equality: the stored path must reproduce it bit for bit), single-example
`loss.backward()` gradients (`test_utils.brute_scores`), and the dense projection matrix `Projection.matrix(p)` (the
projected scores must equal `(A P)(B P)^T` computed from exact features). Work is counted in the result's
`info['grads']` (per-example gradients computed), so "nothing recomputed" is a number, not a timing.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from spanfluence.data import load_sst2
from spanfluence.engine import score_units, State, RowNormalise, SelfNormalised, explode_spans, features, _chunks, Settings
from spanfluence.gradients import select_params
from spanfluence.store import Projection, FeatureStore, PROJECTIONS
from spanfluence.test_utils import sharp_bert, brute_scores
from spanfluence.tracin import TracIn
from spanfluence.baselines import GradDot

# the explicit-feature path of the engine (not the factored `ghost` products, which sum in another order): the store's
# reference for bit-for-bit equality
EXACT = {'ghost': False} if 'ghost' in Settings.__dataclass_fields__ else {}
KW = dict(progress=False, batch_size=8, **EXACT)


def _bump(m):   # a second model state: every 2-D weight moved (the lower layers too)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2: p.mul_(1.1)


@pytest.fixture(scope='module')
def setup():
    model, tok = sharp_bert(seed=1)
    train = explode_spans(load_sst2(n=20, seed=0), whole=True)
    test = explode_spans(load_sst2('dev', n=3, seed=0), whole=True)
    states = [State(1.0, None, 'current'), State(0.5, _bump, 'bumped')]
    ps = select_params(model, 'last:1')
    ref = score_units(model, tok, train, test, ps, states, **KW)   # the engine without a store
    return model, tok, train, test, states, ps, ref


def n_shards(train, bs=8):
    return len(_chunks(train, torch.tensor(train.label.values), bs))


def test_stored_equals_unstored(setup, tmp_path):
    model, tok, train, test, states, ps, ref = setup
    cold = score_units(model, tok, train, test, ps, states, store=tmp_path, **KW)
    warm = score_units(model, tok, train, test, ps, states, store=str(tmp_path), **KW)
    assert torch.equal(cold.scores, ref.scores) and torch.equal(warm.scores, ref.scores)   # project=None: bit for bit
    k = n_shards(train)
    assert cold.info['grads'] == 2*(len(test) + len(train)) and cold.info['store']['written'] == 2*k
    assert warm.info['grads'] == 2*len(test), warm.info      # only the test gradients, at each of the 2 states
    assert warm.info['store'] == dict(loaded=2*k, written=0, rebuilt=0, dir=str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 2                # one entry per model state
    # and the engine (hence the store) against single-example backward passes; tolerance: float32 sums in another order
    brute = brute_scores(model, tok, ps, train.iloc[:5], test.iloc[:2], states=states)
    torch.testing.assert_close(warm.scores[:2, :5], brute, rtol=1e-4, atol=1e-5)


def test_method_second_query_recomputes_no_training_gradient(setup, tmp_path):
    model, tok, train, test, states, ps, ref = setup
    gd = GradDot(model, tok, 'last:1', store=str(tmp_path), label='gold', settings=Settings(**KW))
    a = gd.score(train, test)
    new = load_sst2('dev', n=5, seed=1)
    b = gd.score(train, new)
    assert a.info['grads'] == len(test) + len(train)
    assert b.info['grads'] == len(new), b.info                # new test points: only their own gradients
    plain = GradDot(model, tok, 'last:1', label='gold', settings=Settings(**KW)).score(train, new)
    assert torch.equal(b.scores, plain.scores)


def test_resume_after_kill(setup, tmp_path, monkeypatch):
    model, tok, train, test, states, ps, ref = setup
    real, saved = FeatureStore.save, []
    def killed(self, i, X):
        if len(saved) == 2: raise KeyboardInterrupt('killed after shard 2')
        real(self, i, X); saved.append(i)
    monkeypatch.setattr(FeatureStore, 'save', killed)
    with pytest.raises(KeyboardInterrupt): score_units(model, tok, train, test, ps, states[:1], store=tmp_path, **KW)
    monkeypatch.setattr(FeatureStore, 'save', real)
    plan = _chunks(train, torch.tensor(train.label.values), 8)
    again = score_units(model, tok, train, test, ps, states[:1], store=tmp_path, **KW)
    missing = sum(len(plan[i]) for i in range(len(plan)) if i not in saved)
    assert again.info['grads'] == len(test) + missing, (again.info, saved)   # only the shards the kill left out
    assert again.info['store']['loaded'] == 2 and again.info['store']['written'] == len(plan) - 2
    assert torch.equal(again.scores, score_units(model, tok, train, test, ps, states[:1], **KW).scores)
    assert not list(tmp_path.rglob('*.tmp'))                  # no temporary file left behind


def test_corrupt_shard_is_rebuilt(setup, tmp_path):
    model, tok, train, test, states, ps, ref = setup
    plain = score_units(model, tok, train, test, ps, states[:1], store=tmp_path, **KW).scores
    (entry,) = [d for d in tmp_path.iterdir()]
    shard = entry/'shard-00001.safetensors'
    raw = bytearray(shard.read_bytes()); raw[-10] ^= 0x40; shard.write_bytes(bytes(raw))   # one bit of one feature
    plan = _chunks(train, torch.tensor(train.label.values), 8)
    res = score_units(model, tok, train, test, ps, states[:1], store=tmp_path, **KW)
    assert res.info['grads'] == len(test) + len(plan[1]) and res.info['store']['rebuilt'] == 1
    assert torch.equal(res.scores, plain)
    shard.write_bytes(b'not a safetensors file')                                          # garbage header
    res = score_units(model, tok, train, test, ps, states[:1], store=tmp_path, **KW)
    assert res.info['store']['rebuilt'] == 1 and torch.equal(res.scores, plain)


@pytest.mark.parametrize('change', ['weights', 'params', 'projection', 'data', 'labels', 'max_length', 'feature'])
def test_mismatched_key_is_not_used(setup, tmp_path, change):
    model, tok, train, test, states, ps, ref = setup
    base = dict(store=tmp_path, project=64, seed=0, **KW)
    first = score_units(model, tok, train, test, ps, states[:1], **base)
    kw, args, st, tr, tl = dict(base), [ps], states[:1], train, None
    if change == 'weights': st = [State(1.0, lambda m: m.bert.embeddings.word_embeddings.weight.data.mul_(1.01), 'embeddings moved')]
    if change == 'params': args = [select_params(model, 'classifier')]
    if change == 'projection': kw['seed'] = 1
    if change == 'data': tr = train.assign(text=train.text + ' .')
    if change == 'labels': tl = torch.tensor(1 - train.label.values)
    if change == 'max_length': kw['max_length'] = 16
    if change == 'feature': tr = train.assign(span=[(0, 3)]*len(train)); kw['train_feature'] = 'span'
    res = score_units(model, tok, tr, test, *args, st, train_labels=tl, **kw)
    assert res.info['grads'] == len(test) + len(tr) + (len(tr) if change == 'feature' else 0), res.info   # all recomputed
    assert res.info['store']['loaded'] == 0
    assert len(list(tmp_path.iterdir())) == 2                # a second entry beside the first
    again = score_units(model, tok, train, test, ps, states[:1], **base)                  # the first entry is still intact
    assert again.info['store']['loaded'] == first.info['store']['written'] and torch.equal(again.scores, first.scores)


@pytest.mark.parametrize('kind', PROJECTIONS)
def test_projection_blocks_equal_dense_matrix(kind):
    p, k = 37, 16
    X = torch.randn(6, p, generator=torch.Generator().manual_seed(3))
    small = Projection(k, kind, seed=5, block=5*(4 if kind == 'sparse' else k))          # 5 rows per block: 8 blocks
    assert small.rows == 5
    M = small.matrix(p)
    assert M.shape == (p, k)
    assert torch.equal(M, Projection(k, kind, seed=5, block=5*(4 if kind == 'sparse' else k)).matrix(p))   # same seed, same P
    assert not torch.equal(M, Projection(k, kind, seed=6, block=5*(4 if kind == 'sparse' else k)).matrix(p))
    torch.testing.assert_close(small(X), X @ M, rtol=1e-5, atol=1e-5)   # float32, other summation order
    if kind == 'rademacher': assert set((M*np.sqrt(k)).unique().tolist()) == {-1.0, 1.0}
    if kind == 'sparse': assert ((M != 0).sum(1) <= 4).all() and ((M != 0).sum(1) >= 1).all()


@pytest.mark.parametrize('kind', PROJECTIONS)
def test_projected_scores_against_dense_reference(setup, tmp_path, kind):
    "The engine's projected scores equal `(A P)(B P)^T` from exact features and the dense matrix; their mean over seeds is the exact score."
    model, tok, train, test, states, ps, ref = setup
    p = sum(t.numel() for t in ps.values())
    A, B = torch.zeros(len(test), p), torch.zeros(len(train), p)
    for pos, a in features(model, tok, ps, test, progress=False): A[pos] = a
    for pos, b in features(model, tok, ps, train, batch_size=8, progress=False): B[pos] = b
    S = A @ B.T
    pr = score_units(model, tok, train, test, ps, project=256, project_kind=kind, seed=3, store=tmp_path, **KW)
    P = Projection(256, kind, 3).matrix(p)
    torch.testing.assert_close(pr.scores, (A @ P) @ (B @ P).T, rtol=2e-4, atol=2e-4*float(S.abs().max()))
    # unbiased: over 30 seeds the mean is within a few standard errors of the exact score
    runs = torch.stack([(A @ Q) @ (B @ Q).T for Q in (Projection(256, kind, s).matrix(p) for s in range(30))])
    se = runs.std(0)/np.sqrt(30)
    assert ((runs.mean(0) - S).abs() <= 5*se + 1e-4*S.abs().max()).float().mean() >= 0.99


def test_metrics_and_settings(setup, tmp_path):
    model, tok, train, test, states, ps, ref = setup
    cos = score_units(model, tok, train, test, ps, metric=RowNormalise(), **KW)
    stored = score_units(model, tok, train, test, ps, metric=RowNormalise(), store=tmp_path, **KW)
    assert torch.equal(cos.scores, stored.scores)
    class Solver:   # a stand-in solve, enough to build RIF's metric
        def solve(self, A, info=None): return A
    with pytest.raises(ValueError, match='store'):
        score_units(model, tok, train, test, ps, metric=SelfNormalised(Solver()), store=tmp_path, **KW)
    with pytest.raises(ValueError, match='project: expected a positive integer'):
        TracIn(model, tok, 'last:1', checkpoints=None, project=-3)
    assert Settings.of(None, store=tmp_path).store == str(tmp_path)


def test_influence_functions_use_the_store(setup, tmp_path):
    "IF's metric solves on the test side only: its training side is storable; RIF's self-normalisation is not."
    from spanfluence.influence import IF, RIF
    model, tok, train, test, states, ps, ref = setup
    kw = dict(params='classifier', damping=0.1, label='gold', settings=Settings(**KW))
    f = IF(model, tok, store=str(tmp_path), **kw)
    first, new = f.score(train, test), load_sst2('dev', n=4, seed=2)
    second = f.score(train, new)
    assert second.info['grads'] == len(new), second.info        # the Hessian's own work is counted apart (`metric_*`)
    assert torch.equal(second.scores, IF(model, tok, **kw).score(train, new).scores)
    with pytest.raises(ValueError, match='store'): RIF(model, tok, store=str(tmp_path), **kw).score(train, test)
