"""Influence functions end to end (fit + score) against kronfluence's EK-FAC, in ONE process (issue #12, item 3).

The fine-tuned MiniLM (`sst2_model()`), `n_train` bundled SST-2 training sentences, `n_test` dev sentences (their
gold labels), damping λ: every method solves `(H + λI)^{-1}` over the same linear layers and scores the same pairs.

* `--selection head`: the classification head (weight and bias, 770 numbers). The reference is the exact solve
  (`IF(solver='exact')`, the Hessian built column by column).
* `--selection ffn`: the last layer's FFN output projection and the head (weights and biases, 591,106 numbers).
  No exact solve fits; the reference is LiSSA run to its own accuracy check (`IF(solver='lissa')`). Here the
  Hessian is indefinite (the FFN is not a linear model's last layer; its most negative eigenvalue is ≈ −0.07 at
  this model), so λ defaults to 0.1: H + λI must be positive definite for LiSSA, while (E)K-FAC approximates the
  positive semi-definite Fisher — the gap between the two is part of what the agreement column measures.

Rows: ours `lowrank` (Lanczos, rank r), ours `ekfac` and `kfac`, kronfluence 1.0.1 `ekfac` (`Analyzer.fit_all_factors`
+ `compute_pairwise_scores`, true-Fisher sampling as its default task would do). Each row's seconds are fit + score;
its agreement is the Spearman ρ with the reference per test sentence (mean and min over the test sentences) and
the overlap of the top-10 proponents.

kronfluence is a bench-only extra and must not change torch: install it beside the project's environment with
`pip install --no-deps kronfluence==1.0.1 einops einconv opt-einsum` (its declared torchvision dependency is what
would pull another torch; kronfluence's language-model path does not import it).

    python bench/bench_kronfluence.py --selection head
    python bench/bench_kronfluence.py --selection ffn --n-train 256
"""
import argparse, copy, statistics, tempfile, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
import numpy as np, torch, torch.nn.functional as F
from scipy.stats import spearmanr
from spanfluence.train import sst2_model
from spanfluence.data import load_sst2
from spanfluence.models import encode
from spanfluence.influence import IF

ap = argparse.ArgumentParser()
ap.add_argument('--selection', choices=['head', 'ffn'], default='head')
ap.add_argument('--n-train', type=int, default=512); ap.add_argument('--n-test', type=int, default=16)
ap.add_argument('--damping', type=float, default=None, help='λ (default: 1e-3 for head, 0.1 for ffn)'); ap.add_argument('--rank', type=int, default=32)
ap.add_argument('--batch', type=int, default=32)
ap.add_argument('--lissa-depth', type=int, default=2000, help='LiSSA depth of the ffn reference')
a = ap.parse_args()
if a.damping is None: a.damping = 1e-3 if a.selection == 'head' else 0.1
torch.manual_seed(0)

model, tok, _ = sst2_model(progress=False)
model.eval()
train, test = load_sst2('train', n=a.n_train, seed=0), load_sst2('dev', n=a.n_test, seed=0)
modules = ['classifier'] if a.selection == 'head' else ['bert.encoder.layer.5.output.dense', 'classifier']
names = [f'{m}.{w}' for m in modules for w in ('weight', 'bias')]
p = sum(model.get_parameter(n).numel() for n in names)
print(f'selection={a.selection} ({p:,} params: {", ".join(modules)}) n_train={a.n_train} n_test={a.n_test} '
      f'damping={a.damping} threads={torch.get_num_threads()} float32 (solves in float64 where the method does)')

def ours(solver, **kw):
    def run():
        m = IF(model, tok, params=names, damping=a.damping, solver=solver, solver_kw=kw, label='gold', progress=False, batch_size=a.batch)
        return m.score(train, test).scores.double().numpy()
    return run

def kron():
    try:
        from kronfluence.analyzer import Analyzer, prepare_model
        from kronfluence.arguments import FactorArguments, ScoreArguments
        from kronfluence.task import Task
    except ImportError: return None
    class Cls(Task):
        def _logits(self, batch, model):
            return model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'], token_type_ids=batch['token_type_ids']).logits
        def compute_train_loss(self, batch, model, sample=False):
            z = self._logits(batch, model)
            if not sample: return F.cross_entropy(z, batch['labels'], reduction='sum')
            with torch.no_grad(): y = torch.multinomial(F.softmax(z.detach(), -1), 1).flatten()
            return F.cross_entropy(z, y, reduction='sum')
        def compute_measurement(self, batch, model): return F.cross_entropy(self._logits(batch, model), batch['labels'], reduction='sum')
        def get_influence_tracked_modules(self): return modules
        def get_attention_mask(self, batch): return batch['attention_mask']
    def data(df):
        enc = encode(tok, df, max_length=128, return_offsets=False)
        y = torch.tensor(df.label.values)
        return [dict(input_ids=enc['input_ids'][i], attention_mask=enc['attention_mask'][i],
                     token_type_ids=enc['token_type_ids'][i], labels=y[i]) for i in range(len(df))]
    dtr, dte = data(train), data(test)
    def run():
        task = Cls()
        km = prepare_model(copy.deepcopy(model), task)
        with tempfile.TemporaryDirectory() as d:
            an = Analyzer(analysis_name='bench', model=km, task=task, cpu=True, disable_tqdm=True, output_dir=d, disable_model_save=True)
            an.fit_all_factors(factors_name='ekfac', dataset=dtr, per_device_batch_size=a.batch,
                               factor_args=FactorArguments(strategy='ekfac'), overwrite_output_dir=True)
            an.compute_pairwise_scores(scores_name='s', factors_name='ekfac', query_dataset=dte, train_dataset=dtr,
                                       per_device_query_batch_size=a.n_test, per_device_train_batch_size=a.batch,
                                       score_args=ScoreArguments(damping_factor=a.damping), overwrite_output_dir=True)
            return an.load_pairwise_scores('s')['all_modules'].double().numpy()
    return run

ref_name = 'exact' if a.selection == 'head' else f'lissa (depth {a.lissa_depth})'
rows = {ref_name: ours('exact') if a.selection == 'head' else ours('lissa', depth=a.lissa_depth),
        f'ours lowrank (rank {a.rank})': ours('lowrank', rank=a.rank), 'ours ekfac': ours('ekfac'), 'ours kfac': ours('kfac')}
k = kron()
if k is not None: rows['kronfluence 1.0.1 ekfac'] = k
else: print('kronfluence is not installed: its row is skipped')

out, secs = {}, {}
for name, fn in rows.items():
    t0 = time.perf_counter(); out[name] = fn(); secs[name] = time.perf_counter() - t0
R = out[ref_name]
def top10(S): return [set(np.argsort(-s)[:10]) for s in S]
print(f"\n{'row':32s} {'fit+score s':>11s} {'vs ref time':>11s} {'spearman mean':>13s} {'min':>6s} {'top-10 overlap':>14s}")
for name, S in out.items():
    rho = [spearmanr(s, r).statistic for s, r in zip(S, R)]
    ov = statistics.mean(len(x & y)/10 for x, y in zip(top10(S), top10(R)))
    print(f'{name:32s} {secs[name]:11.2f} {secs[name]/secs[ref_name]:11.3f} {np.mean(rho):13.3f} {np.min(rho):6.3f} {ov:14.2f}')
K = 'kronfluence 1.0.1 ekfac'
if K in out:   # the same estimator, two implementations: ours takes the Fisher's expectation over labels, kronfluence samples one
    rho = [spearmanr(s, r).statistic for s, r in zip(out['ours ekfac'], out[K])]
    print(f'ours ekfac vs kronfluence ekfac: spearman mean {np.mean(rho):.3f}, min {np.min(rho):.3f}')
