"""Benchmark: TracIn++ (spanfluence.tracin.TracInPlusPlus) scoring 2,000 training x 100 test SST-2 examples on the
fine-tuned all-MiniLM-L6-v2 (`spanfluence.train.sst2_model`, cached), 3 delta-faithful variants, selection last:2.

Training spans: the first `--max-spans` clause candidates of every training sentence; test spans: the top clause by
importance (`auto_spans`). Prints timings, and checks that the engine computed exactly the minimum number of
per-example gradients: per state, (distinct test examples + test spans) + (distinct train examples + train spans).

    nice python bench/bench_tracinpp.py [--n-train 2000 --n-test 100 --max-spans 2 --params last:2]
"""
import argparse, json, os, time
import torch
from spanfluence.data import load_sst2
from spanfluence.spans import candidate_spans
from spanfluence.train import sst2_model
from spanfluence.tracin import TracInPlusPlus
from spanfluence.engine import explained_labels

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n-train', type=int, default=2000); ap.add_argument('--n-test', type=int, default=100)
    ap.add_argument('--max-spans', type=int, default=2); ap.add_argument('--params', default='last:2')
    ap.add_argument('--batch-size', type=int, default=32); ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--out', default='bench/results_tracinpp.json')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    model, tok, run = sst2_model(progress=False)
    train = load_sst2('train', n=a.n_train, seed=0)
    train = train.assign(spans=[candidate_spans(t, 'clause')[:a.max_spans] for t in train.text])
    test = load_sst2('dev', n=a.n_test, seed=0).assign(spans=[[]] * a.n_test)
    m = TracInPlusPlus(model, tok, a.params, batch_size=a.batch_size, progress=True)
    t0 = time.time(); test_sp = m.pick_test_spans(test, explained_labels(model, tok, test, m.label, m.max_length)); t_auto = time.time() - t0
    t0 = time.time(); res = m.score(train, test_sp); t_score = time.time() - t0
    tr_u, te_u = res.train, res.test
    n_states = len(res.info['states'])
    minimum = n_states * (len(train) + sum(len(s) for s in train.spans)
                          + len(test_sp) + sum(len(s) for s in test_sp.spans))
    out = dict(n_train_examples=len(train), n_train_units=len(tr_u), n_test_examples=len(test_sp), n_test_units=len(te_u),
               params=a.params, parameters=sum(p.numel() for p in m.params.values()), states=n_states,
               grads=res.info['grads'], minimum_grads=int(minimum), naive_grads=int(n_states*2*(len(tr_u) + len(te_u))),
               seconds_auto_spans=round(t_auto, 1),
               seconds_score=round(t_score, 1), grads_per_second=round(res.info['grads']/t_score, 1),
               delta_norms=res.info['delta_norms'], theta_norm=res.info['theta_norm'],
               torch_threads=torch.get_num_threads(), cpus=os.cpu_count(), scores_shape=list(res.scores.shape))
    assert out['grads'] == out['minimum_grads'], out
    assert torch.isfinite(res.scores).all()
    print(json.dumps(out, indent=1))
    with open(a.out, 'w') as f: json.dump(out, f, indent=1)

if __name__ == '__main__': main()
