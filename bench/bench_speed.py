"""Speed of spanfluence's gradient paths against the floor and Captum, in ONE process (issue #12).

The floor is a plain batched forward + backward of the same model, on the same length-sorted batches of the same
training sentences, with only the selected parameters requiring gradients: what training one epoch costs, and no
per-example gradient at all. Every other row is timed the same way and printed as examples/s and as a ratio to the
floor (and to Captum's TracInCP, when captum is installed: `pip install captum`, a bench-only extra).

    python bench/bench_speed.py --size tiny                       # seconds, CPU
    python bench/bench_speed.py --size minilm                     # the fine-tuned MiniLM on bundled SST-2, ~a minute on CPU
    python bench/bench_speed.py --size bert-base --n-train 4096   # BERT-base shape, random weights: for a GPU

Rows: `floor`; `hooks` (per-example gradients from one batched backward + the [n_test, p] product);
`vmap` (the torch.func reference path, same product); `ghost` (ghost products, no per-example gradient);
`TracIn (score_units)` (the engine end to end: tokenising, chunking, test block, one state; it uses ghost products,
`ghost=False` the materialised feature blocks);
`span train side (score_units)` (train_feature='span', one span per sentence: g(z) and g(z_-span) per unit);
`captum TracInCP` (one backward per example, its default mode). Precision: float32 throughout.
"""
import argparse, os, time, tempfile, statistics
import torch, torch.nn as nn, torch.nn.functional as F
import pandas as pd
from spanfluence.data import load_sst2
from spanfluence.models import encode, eval_mode
from spanfluence.gradients import select_params, iter_grads, grad_factors, ghost_dot, per_example_grads
from spanfluence.engine import score_units

ap = argparse.ArgumentParser()
ap.add_argument('--size', choices=['tiny', 'minilm', 'bert-base'], default='tiny')
ap.add_argument('--n-train', type=int, default=None); ap.add_argument('--n-test', type=int, default=3)
ap.add_argument('--captum-n', type=int, default=None, help='training examples Captum scores (it is slow); default min(n_train, 256)')
ap.add_argument('--spec', default='last:2'); ap.add_argument('--batch', type=int, default=32)
ap.add_argument('--repeats', type=int, default=3, help='timed runs per row; the median is printed')
ap.add_argument('--threads', type=int, default=None)
a = ap.parse_args()
if a.threads: torch.set_num_threads(a.threads)
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
dtype = torch.float32

if a.size == 'tiny':
    from spanfluence.test_utils import sharp_bert
    model, tok = sharp_bert(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4)
    n_train = a.n_train or 512
elif a.size == 'minilm':
    from spanfluence.train import sst2_model
    model, tok, _ = sst2_model(progress=False)
    n_train = a.n_train or 512
else:
    from transformers import BertConfig, BertForSequenceClassification
    from spanfluence.models import real_tokenizer
    tok = real_tokenizer(); torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tok), num_labels=2, attn_implementation='eager')).eval()
    n_train = a.n_train or 4096
model.to(dev).eval()
train = load_sst2('train', n=n_train, seed=0).reset_index(drop=True)
train = train.assign(id=[f'tr{i}' for i in range(len(train))])
test = load_sst2('dev', n=a.n_test, seed=0).reset_index(drop=True)
ps = select_params(model, a.spec)
p = sum(t.numel() for t in ps.values())

def enc_sorted(df):
    "Length-sorted encoding (the engine's chunking does the same)."
    order = df.text.str.len().argsort(kind='stable').to_numpy()
    e = encode(tok, df.iloc[order])
    return e, torch.tensor(df.label.to_numpy()[order])
etr, ytr = enc_sorted(train); ete, yte = enc_sorted(test)
def sync():
    if dev == 'cuda': torch.cuda.synchronize()

def timed(fn):
    fn(); sync()                                     # warm-up (and caches)
    ts = []
    for _ in range(a.repeats):
        t0 = time.perf_counter(); out = fn(); sync(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out

def batches(e, y, bs):
    for s in range(0, len(y), bs):
        am = e['attention_mask'][s:s+bs]; L = int(am.sum(1).max())
        yield (e['input_ids'][s:s+bs, :L].to(dev), am[:, :L].to(dev), e['token_type_ids'][s:s+bs, :L].to(dev), y[s:s+bs].to(dev))

def floor():
    req = {n: t.requires_grad for n, t in model.named_parameters()}
    sel = {id(t) for t in ps.values()}
    try:
        for t in model.parameters(): t.requires_grad_(id(t) in sel)
        for ids, am, tt, y in batches(etr, ytr, a.batch):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(input_ids=ids, attention_mask=am, token_type_ids=tt).logits.float(), y).backward()
    finally:
        model.zero_grad(set_to_none=True)
        for n, t in model.named_parameters(): t.requires_grad_(req[n])

A = per_example_grads(model, ps, ete['input_ids'], ete['attention_mask'], yte, ete['token_type_ids'], method='vmap').to(dev)
def product(method):
    def run():
        S = torch.zeros(len(yte), len(ytr), device=dev)
        for sl, G in iter_grads(model, ps, etr['input_ids'], etr['attention_mask'], ytr, etr['token_type_ids'], batch_size=a.batch, method=method):
            S[:, sl] = A @ G.T
        return S
    return run

def ghost():
    with eval_mode(model):
        fa = [grad_factors(model, ps, i, m, y, t) for i, m, t, y in batches(ete, yte, a.batch)]
        S = torch.zeros(len(yte), len(ytr), device=dev)
        for k, (i, m, t, y) in enumerate(batches(etr, ytr, a.batch)):
            fb = grad_factors(model, ps, i, m, y, t)
            S[:, k*a.batch:k*a.batch + len(y)] = torch.cat([ghost_dot(f, fb) for f in fa])
    return S

def engine(feature, **kw):
    tr = train
    if feature == 'span':        # one span per sentence: its first half (whole words)
        sp = [(0, max(1, t.rfind(' ', 0, max(2, len(t)//2)))) for t in train.text]
        tr = train.assign(span=sp)
    def run(): return score_units(model, tok, tr, test, ps, train_feature=feature, progress=False, batch_size=a.batch, **kw)
    return run

fns = {'floor: batched forward+backward': floor, 'hooks: per-example grads + product': product('hooks'),
       'vmap: per-example grads + product': product('vmap'), 'ghost: ghost products': ghost,
       'TracIn (score_units, 1 state)': engine('grad'), 'TracIn (score_units, ghost=False)': engine('grad', ghost=False),
       'span train side (score_units)': engine('span')}
outs = {k: fn() for k, fn in fns.items()}            # warm-up, and the outputs compared below
ts = {k: [] for k in fns}
for _ in range(a.repeats):                           # rounds: every row once per round, so load on a shared machine hits all rows alike
    for k, fn in fns.items():
        sync(); t0 = time.perf_counter(); fn(); sync(); ts[k].append(time.perf_counter() - t0)
rows = {k: statistics.median(v) for k, v in ts.items()}

captum_note = ''
try:
    import captum
    from captum.influence import TracInCP
except ImportError: captum = None; captum_note = 'captum not installed (pip install captum)'
if captum is not None:
    nc = a.captum_n or min(n_train, 256)
    class Wrap(nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, ids, am, tt): return self.m(input_ids=ids, attention_mask=am, token_type_ids=tt).logits
    w = Wrap(model).eval()
    L = int(etr['attention_mask'][:nc].sum(1).max())
    ds = torch.utils.data.TensorDataset(etr['input_ids'][:nc, :L].to(dev), etr['attention_mask'][:nc, :L].to(dev),
                                        etr['token_type_ids'][:nc, :L].to(dev), ytr[:nc].to(dev))
    layers = sorted({'m.' + n.rsplit('.', 1)[0] for n in ps})           # the modules that hold the selection
    ck = os.path.join(tempfile.mkdtemp(), 'ck.pt'); torch.save(w.state_dict(), ck)
    def load(m, path): m.load_state_dict(torch.load(path, weights_only=True)); return 1.0
    tcp = TracInCP(w, ds, [ck], checkpoints_load_func=load, layers=layers, loss_fn=nn.CrossEntropyLoss(reduction='none'), batch_size=a.batch)
    Lt = int(ete['attention_mask'].sum(1).max())
    tin = (ete['input_ids'][:, :Lt].to(dev), ete['attention_mask'][:, :Lt].to(dev), ete['token_type_ids'][:, :Lt].to(dev), yte.to(dev))
    t_c, S_c = timed(lambda: tcp.influence(tin))
    # the same parameters on our side: every parameter of those modules, biases included
    psb = {n: t for n, t in model.named_parameters() if ('m.' + n.rsplit('.', 1)[0]) in layers}
    Gb = per_example_grads(model, psb, etr['input_ids'][:nc], etr['attention_mask'][:nc], ytr[:nc], etr['token_type_ids'][:nc])
    Ab = per_example_grads(model, psb, ete['input_ids'], ete['attention_mask'], yte, ete['token_type_ids'])
    R = Ab.double() @ Gb.double().T
    captum_err = ((S_c.double().cpu() - R.cpu()).abs().max() / R.abs().max()).item()
    rows[f'captum TracInCP ({nc} train)'] = t_c * n_train / nc       # scaled to the same training set size

# agreement (max |diff| / max |score|) with the vmap gradients multiplied in float64: float32 products over millions of
# parameters carry ~1e-4 of rounding themselves (measured), the ghost products far less
ref = torch.zeros(len(yte), len(ytr), dtype=torch.float64)
for sl, G in iter_grads(model, ps, etr['input_ids'], etr['attention_mask'], ytr, etr['token_type_ids'], batch_size=a.batch, method='vmap'):
    ref[:, sl] = (A.double() @ G.double().T).cpu()
errs = {k: ((outs[k].double().cpu() - ref).abs().max() / ref.abs().max()).item()
        for k in ('hooks: per-example grads + product', 'vmap: per-example grads + product', 'ghost: ghost products')}
eng = outs['TracIn (score_units, 1 state)'].scores.double()
inv = train.text.str.len().argsort(kind='stable').to_numpy()        # our rows are length-sorted; the engine's are in frame order
tinv = torch.as_tensor(test.text.str.len().argsort(kind='stable').to_numpy().copy()).argsort()
errs['TracIn (score_units)'] = ((eng[:, inv] - ref[tinv]).abs().max() / ref.abs().max()).item()

fl = rows['floor: batched forward+backward']
cap = next((v for k, v in rows.items() if k.startswith('captum')), None)
print(f"size={a.size} device={dev} threads={torch.get_num_threads()} precision=float32 selection={a.spec} "
      f"({p:,} params) n_train={n_train} n_test={len(test)} batch={a.batch} median of {a.repeats}")
tab = pd.DataFrame([dict(row=k, seconds=round(v, 3), ex_per_s=round(n_train / v, 1), vs_floor=round(fl / v, 3),
                         vs_captum=(round(cap / v, 1) if cap else None)) for k, v in rows.items()]).set_index('row')
print(tab.to_string())
print('max |score - float64 product of vmap gradients| / max |score|:', {k: f'{v:.1e}' for k, v in errs.items()})
if captum is not None: print(f'captum vs float64 products of our per-example gradients (biases included, {nc} train): max |diff| / max |score| {captum_err:.1e}')
else: print(captum_note)
