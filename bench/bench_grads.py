"""Per-example gradients: spanfluence's vmap path (frozen layers once) vs a loss.backward() loop, vs the floor.

The floor is one plain batched forward + backward of the mean loss (no per-example gradients at all). Ratios are
against the loop baseline run in the same process. Usage: python bench/bench_grads.py [--n 128] [--spec last:2]
"""
import argparse, time, os
import torch
from spanfluence.models import load_encoder, encode, model_inputs
from spanfluence.data import load_sst2
from spanfluence.gradients import select_params, per_example_grads
from spanfluence.test_utils import loop_grads
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--n', type=int, default=128)
ap.add_argument('--spec', default='last:2')
ap.add_argument('--batch', type=int, default=32)
a = ap.parse_args()
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
model, tok = load_encoder(2); model.to(dev)
df = load_sst2('train', n=a.n, seed=0)
ps = select_params(model, a.spec)
enc = encode(tok, df); y = torch.tensor(df.label.to_numpy())
ids, am, tt = enc['input_ids'], enc['attention_mask'], enc['token_type_ids']
def sync():
    if dev == 'cuda': torch.cuda.synchronize()

def floor():
    for s in range(0, a.n, a.batch):
        model.zero_grad(set_to_none=True)
        out = model(**{k: v[s:s+a.batch].to(dev) for k, v in model_inputs(enc).items()}).logits
        F.cross_entropy(out, y[s:s+a.batch].to(dev)).backward()
    model.zero_grad(set_to_none=True)

res = {}
for name, fn in [('loop (loss.backward per example)', lambda: loop_grads(model, tok, list(df.text), list(df.label), ps)),
                 ('spanfluence vmap, split', lambda: per_example_grads(model, ps, ids, am, y, tt, batch_size=a.batch)),
                 ('spanfluence vmap, whole (split=False)', lambda: per_example_grads(model, ps, ids, am, y, tt, batch_size=a.batch, split=False)),
                 ('floor: batched forward+backward, no per-example', floor)]:
    fn(); sync()  # warm-up
    t0 = time.perf_counter(); fn(); sync(); res[name] = time.perf_counter() - t0
p = sum(v.numel() for v in ps.values())
print(f"device={dev} threads={torch.get_num_threads()} n={a.n} selection={a.spec} ({p:,} params)")
base = res['loop (loss.backward per example)']
for k, v in res.items():
    print(f"{k:50s} {v:8.2f}s  {a.n/v:8.1f} ex/s  speed-up vs loop x{base/v:.2f}")
