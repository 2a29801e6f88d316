"""Conformance of every registered method (`spanfluence.engine.registry()`), in the style of captum's influence tests.

For each method, on a tiny random BERT with the real tokenizer:
- the result has one row per test unit and one column per training unit, finite scores, the explained label of every
  test unit, its timing and the method's title;
- where the method defines self-influence and scores the same units on both sides, `self_influence(train)` is the
  diagonal of `score(train, train)` (gold labels on both sides) — two different code paths;
- the sign convention: for a method whose two sides are the same feature, a training copy of the test example (same
  text, span and label) is a proponent (score > 0), since its score is a^T M a with M positive definite, a cosine of
  1, or Representer's alpha > 0 times ||f||^2;
- bad input (an empty text, a span outside its text, a label that is no class, a tokenizer that does not fit the
  model) is a ValueError that names the argument, before anything is scored.
"""
import copy
import numpy as np
import pandas as pd
import pytest
import torch

from spanfluence.engine import registry, Method, Influence
from spanfluence.models import tiny_bert
from spanfluence.test_utils import tiny_frame
from spanfluence.train import finetune

REG = registry()

# what a tiny problem needs beyond the defaults (the Hessian's selection small enough for the exact solver, a real run)
IF_KW = dict(params='classifier', damping=0.1)
KW = {'if': IF_KW, 'if+': IF_KW, 'if++': IF_KW, 'rif': IF_KW, 'saliency-if': IF_KW,
      'tracinf': dict(params='last:1', n_variants=2, variant_batch=4), 'tracin+': dict(params='last:1', n_variants=2, variant_batch=4),
      'tracin++': dict(params='last:1', n_variants=2, variant_batch=4), 'graddot': dict(params='last:1'), 'gradcos': dict(params='last:1')}
RUN = {'tracin', 'tracin-we', 'tr-tfidf', 'tracin-layer'}   # methods given the checkpoints of a real (tiny) run


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    model, tok = tiny_bert(seed=0)
    train = tiny_frame(6, spans=True)
    run = finetune(model, tok, train, params='last:1', epochs=2, lr=1e-3, batch_size=3, out_dir=str(tmp_path_factory.mktemp('run')),
                   progress=False)
    return model, tok, train, run


def build(name, setup, **kw):
    model, tok, train, run = setup
    args = dict(KW.get(name, {}), progress=False, batch_size=8, **kw)
    if name in RUN: args['checkpoints'] = run
    return REG[name](model, tok, **args)


def test_registry_is_every_method():
    assert len(REG) >= 16, sorted(REG)
    for name, cls in REG.items():
        assert issubclass(cls, Method) and cls.cli == name, name
    import spanfluence.cli as cli
    assert not hasattr(cli, 'METHODS')      # the CLI keeps no list of its own


@pytest.mark.parametrize('name', sorted(REG))
def test_result_shape(name, setup):
    model, tok, train, run = setup
    m = build(name, setup)
    test = tiny_frame(8, spans=True).iloc[6:].reset_index(drop=True)
    res = m.score(train, test)
    assert isinstance(res, Influence) and res.method == m.title
    assert res.shape == (len(res.test), len(res.train)) and torch.isfinite(res.scores).all()
    tr_units = sum(max(1, len(s)) for s in train.spans) if m.train_spans else len(train)
    assert len(res.train) == tr_units, (name, len(res.train), tr_units)
    assert len(res.test) >= len(test) and 'explained_label' in res.test and res.info['seconds'] > 0
    with torch.no_grad():
        enc = tok(list(res.test.text), padding=True, return_tensors='pt')
        pred = model(**enc).logits.argmax(-1)
    assert res.test.explained_label.tolist() == pred.tolist()     # label='pred': the model's prediction, per unit
    res1 = build(name, setup, label=1).score(train, test)             # a class id, for every method
    assert set(res1.test.explained_label) == {1}
    assert len(res.frame(2)) > 0


def _self_comparable(cls):
    return cls.train_spans == cls.test_spans and cls.self_influence is not Method.self_influence


@pytest.mark.parametrize('name', sorted(n for n, c in REG.items() if _self_comparable(c)))
def test_self_influence_is_the_diagonal(name, setup):
    model, tok, train, run = setup
    m = build(name, setup, label='gold')
    d = m.self_influence(train)
    S = m.score(train, train).scores
    assert S.shape[0] == S.shape[1] == len(d)
    scale = S.abs().max().item()
    torch.testing.assert_close(d, torch.diagonal(S), rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize('name', sorted(n for n, c in REG.items() if c.symmetric and c.train_spans == c.test_spans))
def test_a_copy_of_the_test_example_is_a_proponent(name, setup):
    model, tok, train, run = setup
    m = build(name, setup, label='gold')
    test = train.iloc[[2]].reset_index(drop=True)
    res = m.score(train, test)
    # the copy: the training unit with the test unit's id and span
    for i in range(len(res.test)):
        t = res.test.iloc[i]
        j = [k for k in range(len(res.train)) if res.train.id.iat[k] == t.id and res.train.span.iat[k] == t.span]
        assert len(j) == 1, (name, t.id, t.span)
        assert res.scores[i, j[0]] > 0, (name, res.scores[i].tolist(), j)


@pytest.mark.parametrize('name', sorted(REG))
def test_bad_input_is_refused(name, setup):
    model, tok, train, run = setup
    m = build(name, setup)
    test = train.iloc[:2]
    cases = [(train.assign(text=[''] + list(train.text[1:])), test, 'train_df'),
             (train, test.assign(text=[None, 'fine']), 'test_df'),
             (train.assign(spans=[[(0, 999)]] + list(train.spans[1:])), test, 'train_df'),
             (train.assign(label=[5] + list(train.label[1:])), test, 'train_df'),
             (train.iloc[:0], test, 'train_df')]
    for tr_, te_, arg in cases:
        with pytest.raises(ValueError, match=arg):
            m.score(tr_, te_)
    with pytest.raises(ValueError, match='label'):
        build(name, setup, label=7)
    other, otok = tiny_bert(seed=0)
    other.resize_token_embeddings(100)                 # a model whose vocabulary the tokenizer does not fit
    with pytest.raises(ValueError, match='tokenizer'):
        REG[name](other, otok, **dict(KW.get(name, {}), progress=False))
