"""Block vs one-at-a-time inverse-Hessian-vector products (LiSSA), in one process.

Solves (H + λI)^{-1} for 200 test gradients of the fine-tuned MiniLM (SST-2), selection 'classifier',
H over 300 training sentences: once as a [200, p] block (one recursion, vmapped HVPs), once as the seeds do it
(one recursion per test point; timed on a few points and extrapolated to 200). Same depth, batch size and seed,
so both do the same arithmetic per vector. Prints the ratio.

    python bench/bench_ihvp_block.py [--m 200] [--depth 200] [--single 5] [--spec classifier]
"""
import argparse, time
import torch
from spanfluence.train import sst2_model
from spanfluence.data import load_sst2
from spanfluence.models import encode
from spanfluence.gradients import select_params, per_example_grads
from spanfluence.test_utils import rel_err
from spanfluence.lissa import HVP, HessianData, LissaSolver

ap = argparse.ArgumentParser()
ap.add_argument('--m', type=int, default=200); ap.add_argument('--depth', type=int, default=200)
ap.add_argument('--single', type=int, default=5, help='test points solved one at a time (extrapolated to m)')
ap.add_argument('--spec', default='classifier'); ap.add_argument('--damping', type=float, default=0.1)
a = ap.parse_args()
torch.set_num_threads(max(1, torch.get_num_threads()))
model, tok, _ = sst2_model(progress=False)
ps = select_params(model, a.spec)
op = HVP(HessianData(model, ps, load_sst2('train', n=300, seed=0), tok))
dev = load_sst2('dev', n=a.m, seed=0)
enc = encode(tok, dev)
V = per_example_grads(model, ps, enc['input_ids'], enc['attention_mask'], torch.tensor(dev.label.values), enc['token_type_ids'])
# fixed depth and one repeat, accuracy checks off: both runs do exactly `depth` steps per vector
solver = LissaSolver(op, a.damping, depth=a.depth, repeats=1, on_inaccurate="ignore")
t0 = time.perf_counter(); X = solver.solve(V); t_block = time.perf_counter() - t0
t0 = time.perf_counter(); Xs = torch.cat([solver.solve(V[i:i+1]) for i in range(a.single)]); t_one = time.perf_counter() - t0
per_point_one = t_one/a.single
print(f"p={op.p}  m={a.m}  depth={a.depth}  scale={solver.scale:.4g}  threads={torch.get_num_threads()}")
print(f"block of {a.m}: {t_block:.2f} s ({t_block/a.m*1e3:.1f} ms per test point)")
print(f"one at a time: {per_point_one*1e3:.1f} ms per test point -> {per_point_one*a.m:.1f} s for {a.m} (timed on {a.single})")
print(f"same answers: max rel. diff {rel_err(Xs, X[:a.single]).max().item():.2e}")
print(f"speed-up (one-at-a-time / block): {per_point_one*a.m/t_block:.1f}x")
