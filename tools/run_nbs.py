"""Run notebooks top to bottom and save their outputs in place, so the committed notebooks (the docs) show every table,
score and chart. The cells run are exactly those `nbdev_test` runs: cells flagged with a `tst_flags` flag of
settings.ini (`slow`, `cuda`, `notest`) or `#| eval: false` are skipped unless named in `--flags`. A failing cell
stops that notebook (nothing is written for it) and the script exits non-zero.

    python tools/run_nbs.py                      # every notebook in nbs/
    python tools/run_nbs.py nbs/05_engine.ipynb  # some
    python tools/run_nbs.py --flags slow ...     # also run the slow cells

Then `nbdev_clean` (it keeps outputs: `clear_all = False`).
"""
import argparse, configparser, os, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb, mk_cell
from execnb.shell import CaptureShell
from nbdev.process import extract_directives

ROOT = Path(__file__).resolve().parent.parent


def skip_flags(extra:list) -> set:
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return set(cfg['DEFAULT'].get('tst_flags', '').split()) - set(extra)


def run(path:Path, flags:set) -> float:
    nb = read_nb(path)
    def skip(cell):
        if cell.cell_type != 'code': return True
        d = extract_directives(mk_cell(cell.source), remove=False)
        if d.get('eval:', [''])[0].lower() == 'false': return True
        if flags & d.keys():
            cell.outputs, cell.execution_count = [], None   # a skipped cell shows no stale output
            return True
        cell.outputs = []   # execnb keeps a cell's old outputs when it now shows nothing: clear them first
        return False
    t0 = time.time()
    sh = CaptureShell(path)
    cwd = os.getcwd(); os.chdir(path.parent)
    try: sh.run_all(nb, exc_stop=True, preproc=skip)
    finally: os.chdir(cwd)
    write_nb(nb, path)
    return time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('paths', nargs='*', help='notebooks (default: every nbs/*.ipynb)')
    p.add_argument('--flags', nargs='*', default=[], help='test flags to run anyway (e.g. slow)')
    a = p.parse_args(argv)
    os.environ.setdefault('IN_TEST', '1')
    paths = [Path(x) for x in a.paths] or sorted((ROOT/'nbs').glob('*.ipynb'))
    flags, failed = skip_flags(a.flags), []
    for path in paths:
        try:
            dt = run(path.resolve(), flags); print(f'{path.name}: {dt:.0f}s', flush=True)
        except Exception as e:
            failed.append(path.name); print(f'{path.name}: FAILED: {type(e).__name__}: {e}', flush=True)
    if failed: sys.exit(f'failed: {failed}')


if __name__ == '__main__': main()
