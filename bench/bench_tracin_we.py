"""Benchmark TracIn-WE on SST-2: n_train training x n_test dev sentences, the fine-tuned MiniLM (`sst2_model`, cached),
its 3 epoch checkpoints. Reports wall time, the sparse store's size vs the dense equivalent, and peak memory.

    nice python bench/bench_tracin_we.py                       # 10,000 x 100, TracIn-WE-top10 and TracIn-WE
    nice python bench/bench_tracin_we.py --n-train 500 --variants top10   # a quick look

Anchor (Yeh et al.'s notebook): about 60 s for 10 test x 50k training examples (top-10) on a Colab GPU.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, time, tracemalloc
import torch

def rss_mib() -> float:
    "Peak resident set size of this process so far (Linux: ru_maxrss is in KiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-train', type=int, default=10_000)
    ap.add_argument('--n-test', type=int, default=100)
    ap.add_argument('--data', default='/work/shared/data/sst2', help='folder with the full SST-2 train.tsv/dev.tsv')
    ap.add_argument('--variants', default='top10,all', help='comma-separated: top10, all, common, noc')
    ap.add_argument('--block', type=int, default=4096, help='training examples stored and scored at a time')
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    ap.add_argument('--tracemalloc', action='store_true', help='also trace Python-heap allocations (slower)')
    ap.add_argument('--out', default=None, help='write the results as JSON here')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)

    from spanfluence.data import load_sst2
    from spanfluence.train import sst2_model
    from spanfluence.tracin_we import TracInWE
    t0 = time.time()
    model, tok, run = sst2_model(progress=False)
    path = a.data if os.path.exists(os.path.join(a.data, 'train.tsv')) else None
    train = load_sst2('train', path=path, n=a.n_train, seed=0)
    test = load_sst2('dev', n=a.n_test, seed=0)
    enc = tok(list(train.text))
    n_tok = sum(len(x) for x in enc['input_ids'])
    setup = time.time() - t0
    out = dict(host=platform.node(), cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
               n_train=len(train), n_test=len(test), train_tokens=n_tok, checkpoints=len(run.checkpoints),
               setup_s=round(setup, 1), rss_after_setup_mib=round(rss_mib(), 1), variants={})
    print(json.dumps(out), flush=True)
    for v in a.variants.split(','):
        kw = dict(topk=10) if v == 'top10' else dict(tokens=v) if v in ('common', 'noc') else {}
        we = TracInWE(model, tok, checkpoints=run, batch_size=a.batch_size, block=a.block, progress=False, **kw)
        if a.tracemalloc: tracemalloc.start()
        t = time.time()
        res = we.score(train, test)
        dt = time.time() - t
        r = dict(seconds=round(dt, 1), train_per_s=round(len(train)*len(run.checkpoints)/dt, 1),
                 store_mib=round(res.info['store_bytes']/2**20, 1), max_block_mib=round(res.info['max_block_bytes']/2**20, 1),
                 test_store_mib=round(res.info['test_store_bytes']/2**20, 2), dense_gib=round(res.info['dense_bytes']/2**30, 1),
                 peak_rss_mib=round(rss_mib(), 1), scores_shape=list(res.scores.shape),
                 score_abs_mean=float(res.scores.abs().mean()))
        if a.tracemalloc:
            r['tracemalloc_peak_mib'] = round(tracemalloc.get_traced_memory()[1]/2**20, 1); tracemalloc.stop()
        out['variants'][v] = r
        print(json.dumps({v: r}), flush=True)
    if a.out:
        with open(a.out, 'w') as f: json.dump(out, f, indent=1)
    return out

if __name__ == '__main__':
    main()
