"""`score_units` sharded over torch.distributed ranks: 2 CPU processes (gloo) launched by `torchrun --nproc_per_node 2`.

Each rank scores a disjoint share of the training chunks (and writes only its own shards of the store); the
`[n_test, n_train]` scores are summed over the ranks, so every rank returns the full result. The reference is the same
call in one process; each training column is computed by exactly one rank and the others add exact zeros, so the results
agree to float32 rounding (tolerance 1e-6 relative: the test block is computed by each process on its own).
This file is also the worker: `torchrun ... tests/test_distributed.py OUT_DIR STORE_DIR`.
"""
import os, signal, subprocess, sys
from pathlib import Path
import pytest
import torch

from spanfluence.data import load_sst2
from spanfluence.engine import score_units, State, explode_spans, _chunks
from spanfluence.gradients import select_params
from spanfluence.test_utils import sharp_bert

from spanfluence.engine import Settings
KW = dict(progress=False, batch_size=6, **({'ghost': False} if 'ghost' in Settings.__dataclass_fields__ else {}))   # explicit features


def _bump(m):
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2: p.mul_(1.1)


def problem():
    model, tok = sharp_bert(seed=1)
    train = explode_spans(load_sst2(n=30, seed=0), whole=True)
    test = explode_spans(load_sst2('dev', n=3, seed=0), whole=True)
    return model, tok, train, test, [State(1.0, None, 'current'), State(0.5, _bump, 'bumped')], select_params(model, 'last:1')


def worker(out:Path, store:str):
    import torch.distributed as dist
    from safetensors.torch import save_file
    dist.init_process_group('gloo')
    r = dist.get_rank()
    model, tok, train, test, states, ps = problem()
    plain = score_units(model, tok, train, test, ps, states, **KW)
    stored = score_units(model, tok, train, test, ps, states, store=store, **KW)
    assert plain.info['world_size'] == 2 and plain.info['rank'] == r
    save_file({'plain': plain.scores, 'stored': stored.scores,
               'grads': torch.tensor([plain.info['grads'], stored.info['grads'], stored.info['store']['written']])}, str(out/f'rank{r}.safetensors'))
    dist.destroy_process_group()


def test_two_ranks_equal_one_process(tmp_path):
    from safetensors.torch import load_file
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', __file__, str(tmp_path), str(tmp_path/'store')]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try: log, _ = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.communicate(); raise   # torchrun and both workers, never orphans
    assert p.returncode == 0, log[-5000:]
    model, tok, train, test, states, ps = problem()
    ref = score_units(model, tok, train, test, ps, states, **KW)
    plan = _chunks(train, torch.tensor(train.label.values), KW['batch_size'])
    assert len(plan) >= 4
    res = [load_file(str(tmp_path/f'rank{r}.safetensors')) for r in (0, 1)]
    for r, d in enumerate(res):
        torch.testing.assert_close(d['plain'], ref.scores, rtol=1e-6, atol=1e-6*float(ref.scores.abs().max()))
        torch.testing.assert_close(d['stored'], ref.scores, rtol=1e-6, atol=1e-6*float(ref.scores.abs().max()))
        share = sum(len(c) for c in plan[r::2])                       # this rank's chunks: r, r+2, ...
        assert d['grads'].tolist() == [2*(len(test) + share)]*2 + [2*len(plan[r::2])], (r, d['grads'])
    # the ranks' shards together are the whole store: one process now computes only the test gradients
    warm = score_units(model, tok, train, test, ps, states, store=tmp_path/'store', **KW)
    assert warm.info['grads'] == 2*len(test) and warm.info['store']['loaded'] == 2*len(plan)
    torch.testing.assert_close(warm.scores, ref.scores, rtol=1e-6, atol=1e-6*float(ref.scores.abs().max()))


def test_distributed_true_needs_a_process_group():
    model, tok, train, test, states, ps = problem()
    with pytest.raises(ValueError, match='distributed: True needs torch.distributed'):
        score_units(model, tok, train.iloc[:2], test.iloc[:1], ps, distributed=True, **KW)


if __name__ == '__main__': worker(Path(sys.argv[1]), sys.argv[2])
