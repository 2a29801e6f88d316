"""The redesigned engine (one `Method` base, feature/metric objects, `ModelStates`) against the engine before it, in
one process: the package as it was at `--old` (default d3b5f2c, the last commit before the redesign) is extracted
with `git archive` into a temporary folder and imported as `spanfluence_old`, next to the current `spanfluence`.

Both score the same SST-2 units on the same fine-tuned model, interleaved (old, new, old, new, ...), so machine noise
hits both alike; the scores are asserted equal and the median seconds and their ratio are printed for:
- `score_units` with whole examples (`grad` on both sides), over the run's three checkpoints (TracIn's sum);
- `score_units` with one span per example on both sides (`span`/`span`: TracIn++'s form) at the final model;
- the method layer: `TracIn(...).score` (checkpoints, label = prediction) end to end.

Usage: python bench/bench_redesign.py [--n 128] [--m 8] [--spec last:1] [--repeats 3] [--threads 2] [--old d3b5f2c]
"""
import argparse, importlib, io, statistics, subprocess, sys, tarfile, tempfile, time
from pathlib import Path
import torch

ap = argparse.ArgumentParser()
ap.add_argument('--n', type=int, default=128)
ap.add_argument('--m', type=int, default=8)
ap.add_argument('--spec', default='last:1')
ap.add_argument('--repeats', type=int, default=3)
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--old', default='d3b5f2c')
a = ap.parse_args()
torch.set_num_threads(a.threads)

root = Path(__file__).resolve().parent.parent
tmp = Path(tempfile.mkdtemp(prefix='spanfluence-old-'))
tar = subprocess.run(['git', '-C', str(root), 'archive', a.old, 'spanfluence'], check=True, capture_output=True).stdout
tarfile.open(fileobj=io.BytesIO(tar)).extractall(tmp)
(tmp/'spanfluence').rename(tmp/'spanfluence_old')
sys.path.insert(0, str(tmp))
old_engine, old_tracin = importlib.import_module('spanfluence_old.engine'), importlib.import_module('spanfluence_old.tracin')

from spanfluence.train import sst2_model, checkpoint_states
from spanfluence.data import load_sst2
from spanfluence.engine import explode_spans, score_units
from spanfluence.gradients import select_params
from spanfluence.tracin import TracIn

model, tok, run = sst2_model(progress=False)
ps = select_params(model, a.spec)
train, test = load_sst2('train', n=a.n, seed=0), load_sst2('dev', n=a.m, seed=0)
half = lambda d: d.assign(spans=[[(0, len(t)//2)] if len(t) > 4 else [] for t in d.text])
W, Wt = explode_spans(train, whole=True), explode_spans(test, whole=True)
Sp, Spt = explode_spans(half(train)), explode_spans(half(test))
states = checkpoint_states(run)
old_states = [old_engine.State(s.weight, s.load, s.name) for s in states]

cases = {
    'score_units grad, 3 checkpoints': (
        lambda: old_engine.score_units(model, tok, W, Wt, ps, old_states, progress=False),
        lambda: score_units(model, tok, W, Wt, ps, states, progress=False).scores),
    'score_units span/span, final model': (
        lambda: old_engine.score_units(model, tok, Sp, Spt, ps, None, 'span', 'span', progress=False),
        lambda: score_units(model, tok, Sp, Spt, ps, train_feature='span', test_feature='span', progress=False).scores),
    'TracIn.score (checkpoints, pred)': (
        lambda: old_tracin.TracIn(model, tok, a.spec, checkpoints=run.out_dir, progress=False).score(train, test).scores,
        lambda: TracIn(model, tok, a.spec, checkpoints=run, progress=False).score(train, test).scores),
}
print(f"{a.n} SST-2 training x {a.m} dev sentences, {a.spec} ({sum(p.numel() for p in ps.values()):,} params), "
      f"{a.threads} threads, {a.repeats} interleaved repeats; old = {a.old}")
for name, (old, new) in cases.items():
    t_old, t_new = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter(); So = old(); t_old.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); Sn = new(); t_new.append(time.perf_counter() - t0)
        torch.testing.assert_close(Sn, So, rtol=1e-5, atol=1e-6 * So.abs().max().item())
    mo, mn = statistics.median(t_old), statistics.median(t_new)
    print(f"{name:36s} old {mo:6.2f}s   new {mn:6.2f}s   new/old {mn/mo:4.2f}   (scores equal)")
