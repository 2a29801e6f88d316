"""Bounded memory: scoring streams the training set in chunks, so peak memory is flat in its size (issue #12).

A fresh subprocess per scoring path scores 3 test sentences against 2,000 and then 16,000 short training sentences
with a tiny BERT and reports its own peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, a high-water mark) after
each. The larger run may raise the peak by at most `BOUND_MIB`: the [3, N] float64 score matrix, the frame and its
chunk plan grow by a few MiB, while holding every training gradient (N × p float32, p = 9,344 for 'last:1') would
add about 0.5 GiB — so a regression to non-streaming code fails the test by a wide margin. (Sizes chosen to keep the
test near a minute on two shared cores.)
"""
import json, os, subprocess, sys
import pytest

BOUND_MIB = 64
CHILD = r"""
import json, resource, sys, time, os
import pandas as pd, torch
torch.set_num_threads(1)
from spanfluence.models import tiny_bert
from spanfluence.data import load_sst2
from spanfluence.engine import score_units
ghost = sys.argv[1] == 'ghost'
model, tok = tiny_bert(seed=0)
words = ' '.join(load_sst2('train').text).split()
test = pd.DataFrame({'id': ['q0', 'q1', 'q2'], 'label': [0, 1, 0], 'text': ['a dull mess', 'witty and moving', 'it is fine']})
for n in map(int, sys.argv[2:]):
    train = pd.DataFrame({'id': [f't{i}' for i in range(n)], 'label': [i % 2 for i in range(n)],
                          'text': [' '.join(words[(7*i) % (len(words) - 6):][:6]) for i in range(n)]})   # short sentences
    t0 = time.time()
    r = score_units(model, tok, train, test, 'last:1', progress=False, batch_size=64, max_length=16, ghost=ghost)
    assert r.scores.shape == (3, n) and torch.isfinite(r.scores).all()
    del r, train
    print(json.dumps(dict(n=n, maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds=time.time() - t0)), flush=True)
"""

def peaks(path:str, sizes=(2000, 16000)) -> list:
    env = dict(os.environ, HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', CHILD, path, *map(str, sizes)], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(l) for l in out.stdout.strip().splitlines()[-len(sizes):]]

@pytest.mark.parametrize('path', ['ghost', 'blocks'])
def test_peak_memory_flat_in_training_size(path):
    small, large = peaks(path)
    grow = large['maxrss_mib'] - small['maxrss_mib']
    print(f"{path}: peak RSS {small['maxrss_mib']:.0f} MiB after {small['n']:,}, {large['maxrss_mib']:.0f} MiB after {large['n']:,} "
          f"(+{grow:.1f} MiB); scoring {small['seconds']:.1f} s, {large['seconds']:.1f} s")
    assert grow < BOUND_MIB, (small, large)
