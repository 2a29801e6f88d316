"""TracIn over saved checkpoints when only the top was fine-tuned: the frozen bottom shared by all checkpoints (issue #12).

The recipes of `spanfluence.train` fine-tune the last two layers of all-MiniLM-L6-v2, so every checkpoint has the same
embeddings and first four layers. The engine's ghost path then runs that bottom once per chunk and only the top once per
checkpoint (`info['shared_bottom']`). This script times, in ONE process and interleaved, TracIn over the 3 checkpoints of
the bundled SST-2 run with the bottom shared and with it recomputed per checkpoint (the engine's `_shared_tops` disabled),
checks both give the same scores, and prints the ratio. Precision float32.

    python bench/bench_checkpoints.py                 # 3 test x 512 train, CPU
    python bench/bench_checkpoints.py --n-train 4000  # the README quickstart's size
"""
import argparse, time, statistics
import torch
from spanfluence import engine
from spanfluence.data import load_sst2
from spanfluence.train import sst2_model
from spanfluence.tracin import TracIn

ap = argparse.ArgumentParser()
ap.add_argument('--n-train', type=int, default=512); ap.add_argument('--n-test', type=int, default=3)
ap.add_argument('--repeats', type=int, default=3); ap.add_argument('--threads', type=int, default=None)
a = ap.parse_args()
if a.threads: torch.set_num_threads(a.threads)
model, tok, run = sst2_model(progress=False)
train = load_sst2('train').iloc[:a.n_train]
test = load_sst2('dev').iloc[:a.n_test]
m = TracIn(model, tok, checkpoints=run, progress=False)
shared = engine._shared_tops

def once(share:bool):
    engine._shared_tops = shared if share else (lambda *args, **kw: None)
    try:
        t = time.perf_counter(); r = m.score(train, test); return time.perf_counter() - t, r
    finally: engine._shared_tops = shared

once(True)   # warm-up (tokenizer, allocator)
times, res = {True: [], False: []}, {}
for _ in range(a.repeats):
    for share in (False, True):
        t, r = once(share); times[share].append(t); res[share] = r
assert res[True].info['shared_bottom'] and not res[False].info['shared_bottom']
err = ((res[True].scores - res[False].scores).abs().max() / res[False].scores.abs().max()).item()
assert err < 1e-5, err
med = {k: statistics.median(v) for k, v in times.items()}
print(f"TracIn, {len(run.checkpoints)} checkpoints, {a.n_test} test x {a.n_train} train, last:2, float32, {torch.get_num_threads()} threads")
print(f"  bottom per checkpoint : {med[False]:7.2f} s   ({a.n_train*len(run.checkpoints)/med[False]:6.1f} train gradients/s)")
print(f"  bottom shared         : {med[True]:7.2f} s   ({a.n_train*len(run.checkpoints)/med[True]:6.1f} train gradients/s)")
print(f"  speed-up {med[False]/med[True]:.2f}x; max |difference| / max |score| = {err:.1e}")
