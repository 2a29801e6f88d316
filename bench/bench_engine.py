"""The engine's feature stream: how much of a chunk's time is spent assembling the per-unit rows.

`features()` computes one block of per-example gradients per chunk and then lays the rows out per unit. The
baseline below is the assembly the engine used before (commit c1bdfd0): allocate zero `[chunk, p]` blocks for the
originals *and* the masked copies, and copy the rows in one at a time. The current engine hands out a view of the
gradient block when every unit is one example in order, gathers otherwise, and keeps only the masked rows that
exist. Both run in this process on the same model and chunks; their outputs are asserted equal.

Usage: python bench/bench_engine.py [--n 256] [--spec last:2] [--threads 2]
"""
import argparse, time
import torch
from spanfluence.train import sst2_model
from spanfluence.data import load_sst2
from spanfluence.engine import explode_spans, features, _chunks, _labels, token_ranges, EMPTY
from spanfluence.gradients import select_params, iter_grads
from spanfluence.models import encode
from spanfluence.spans import mask_spans

ap = argparse.ArgumentParser()
ap.add_argument('--n', type=int, default=256)
ap.add_argument('--spec', default='last:2')
ap.add_argument('--threads', type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
model, tok, _ = sst2_model(progress=False)
ps = select_params(model, a.spec)
df = load_sst2('train', n=a.n, seed=0)

def old_features(units, kind, batch_size=32, max_length=128):
    "The engine's previous assembly, verbatim in effect: zero blocks for O and M, rows copied one by one."
    labels = _labels(units, None)
    kinds = {kind}
    for pos in _chunks(units, labels, batch_size):
        chunk = units.iloc[pos]; y = labels[torch.as_tensor(pos)]
        rows = chunk['row'].to_numpy() if 'row' in chunk else pos
        keys = list(zip(rows.tolist(), y.tolist()))
        first = {}
        for b, k in enumerate(keys): first.setdefault(k, b)
        ex_b = list(first.values())
        enc = encode(tok, chunk.iloc[ex_b], max_length=max_length)
        ids, am, tt = enc['input_ids'], enc['attention_mask'], enc.get('token_type_ids')
        ex_of = [list(first).index(k) for k in keys]
        rng = [None]*len(pos) if kinds == {'grad'} else token_ranges(tok, enc, chunk, ex_of)
        spans = [b for b, r in enumerate(rng) if r is not None and r is not EMPTY]
        need = sorted({ex_of[b] for b, r in enumerate(rng) if 'grad' in kinds or r is not EMPTY})
        seq_ids = torch.cat([ids[need], mask_spans(ids, [(ex_of[b],) + tuple(rng[b]) for b in spans], tok)])
        src = need + [ex_of[b] for b in spans]
        p = sum(t.numel() for t in ps.values())
        O = torch.zeros(len(pos), p); M = torch.zeros_like(O)
        ys = torch.tensor([keys[ex_b[e]][1] for e in src], dtype=torch.long)
        _, g = next(iter_grads(model, ps, seq_ids, am[src], ys, None if tt is None else tt[src], batch_size=len(src)))
        at = {e: i for i, e in enumerate(need)}
        for b in range(len(pos)):
            if ex_of[b] in at: O[b] = g[at[ex_of[b]]]
        for i, b in enumerate(spans): M[b] = g[len(need) + i]
        if kind == 'grad': d = O
        else:
            d = O.clone()
            for b, r in enumerate(rng):
                if r is EMPTY: d[b] = 0
                elif r is not None: d[b] = O[b] - M[b]
        yield torch.as_tensor(pos), d

proj = torch.randn(sum(p.numel() for p in ps.values()), generator=torch.Generator().manual_seed(0))
def run(fn, units, kind):
    "Seconds for the whole stream, and every unit's feature projected on a fixed random vector (to compare outputs)."
    out, t0 = {}, time.perf_counter()
    for pos, f in fn(units, kind): out.update({int(q): v.item() for q, v in zip(pos, f @ proj)})
    return time.perf_counter() - t0, out

whole = explode_spans(df, whole=True)
spans = explode_spans(df.assign(spans=[[(0, len(t)//2)] if len(t) > 4 else [] for t in df.text]))
new = lambda u, k: features(model, tok, ps, u, k)
print(f"{a.n} SST-2 training sentences, {a.spec} ({sum(p.numel() for p in ps.values()):,} params), {a.threads} threads")
for name, units, kind in [('whole examples, grad', whole, 'grad'), ('one span each, span', spans, 'span')]:
    run(new, units.iloc[:32], kind)   # warm-up
    t_old, r_old = run(old_features, units, kind)
    t_new, r_new = run(new, units, kind)
    err = max(abs(r_old[k] - r_new[k]) for k in r_old)/max(abs(v) for v in r_old.values())
    assert err < 1e-5, err
    print(f"{name:24s} baseline {1e3*t_old/len(units):6.1f} ms/unit   engine {1e3*t_new/len(units):6.1f} ms/unit   "
          f"speed-up {t_old/t_new:4.2f}x   (random projections agree to {err:.1e})")
