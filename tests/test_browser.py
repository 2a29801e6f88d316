"""The explorer in a real browser: Voila serves nbs/11_explorer.ipynb (which runs top to bottom, the fine-tuned MiniLM
and 200 bundled SST-2 training examples included), Playwright for Python drives Debian's Chromium through it: pick a test
example and a method, score, check the ranked tables and the chart against the library, type a sentence, score again."""
import json, os, re, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT/'nbs'/'11_explorer.ipynb'
CHROMIUM = os.environ.get('SPANFLUENCE_CHROMIUM', '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-quic', '--no-first-run']
K, PICK, METHOD, PARAMS = 5, 3, 'tracin', 'classifier'
TYPED = 'a warm, funny and quietly moving film'


def _missing() -> str|None:
    if not Path(CHROMIUM).is_file(): return f'no Chromium at {CHROMIUM} (apt-get install chromium)'
    for mod, pkg in (('voila', 'voila'), ('playwright.sync_api', 'playwright')):
        try: __import__(mod)
        except ImportError: return f'{pkg} is not installed (pip install {pkg})'
    return None


def served_notebook(dest:Path) -> Path:
    """A copy of the explorer notebook whose demonstrations and tests Voila skips (nbclient's `skip-execution` tag): it runs the
    library cells, the imports, the SST-2 task and the widget, so the page is up in seconds; nbdev_test runs the rest."""
    nb = json.loads(NB.read_text())
    for c in nb['cells']:
        src = ''.join(c['source'])
        keep = (c['cell_type'] != 'code' or src.startswith(('#| export', '#| hide', '#| default_exp'))
                or re.search(r'^(import|from) ', src, re.M) or re.match(r'(sst2 = load_task|Explorer\()', src))
        if not keep: c.setdefault('metadata', {})['tags'] = ['skip-execution']
    out = dest/NB.name
    out.write_text(json.dumps(nb)); return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='module')
def voila(tmp_path_factory):
    "The URL of the explorer notebook served by Voila on 127.0.0.1 (the server is stopped afterwards)."
    why = _missing()
    if why: pytest.skip(why)
    d = tmp_path_factory.mktemp('voila')
    nb, port, log = served_notebook(d), _free_port(), d/'voila.log'
    env = dict(os.environ, HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')
    cmd = [sys.executable, '-m', 'voila', nb.name, '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
           '--VoilaExecutor.timeout=900', '--theme=light']
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=d, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f'http://127.0.0.1:{port}/'
    try:
        for _ in range(240):     # the server answers quickly; the notebook runs when the page is requested
            if proc.poll() is not None: pytest.fail(f'voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}')
            try:
                socket.create_connection(('127.0.0.1', port), timeout=2).close(); break
            except OSError: time.sleep(0.5)
        else: pytest.fail(f'voila did not answer on {url}:\n{log.read_text()[-3000:]}')
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)      # voila and its kernel: the process group this fixture started
        try: proc.wait(timeout=30)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()


def _score(page, query:int, timeout_s:float=600) -> float:
    "Click Score and wait until the status line reports query number `query`; the click-to-result seconds."
    t0 = time.time()
    page.locator('button.sf-score').click()
    page.wait_for_selector(f".sf-status [data-query='{query}']", timeout=timeout_s*1000)
    dt = time.time() - t0
    err = page.locator('.sf-status .sf-error')
    assert err.count() == 0, err.inner_text()
    return dt


def _table(page, kind:str) -> list:
    "Rows `(rank, score, train id, label, text)` of the proponent or opponent table shown."
    rows = page.locator(f'.sf-ranked-view table.sf-{kind} tr')
    out = []
    for i in range(1, rows.count()):       # row 0: the header
        cells = rows.nth(i).locator('td').all_inner_texts()
        out.append((int(cells[0]), float(cells[1]), cells[2], cells[3], cells[4]))
    return out


def test_explorer_in_chromium(voila, tmp_path):
    from playwright.sync_api import sync_playwright
    url, log = voila
    shots = Path(os.environ.get('SPANFLUENCE_ARTIFACTS', tmp_path)); shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path/'profile'), executable_path=CHROMIUM, headless=True, args=ARGS,
                                                   viewport={'width': 1280, 'height': 2400})
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            t0 = time.time()
            page.goto(url, timeout=900_000)
            page.wait_for_selector('.sf-explorer .sf-method select', timeout=900_000)
            page.wait_for_function("document.querySelectorAll('.sf-explorer .sf-pick option').length > 10", timeout=120_000)
            print(f'\nvoila ran the notebook and showed the explorer in {time.time() - t0:.1f}s')
            assert 'Traceback' not in page.locator('body').inner_text()
            # every method of the registry is offered
            offered = page.locator('.sf-method select option').all_inner_texts()
            from spanfluence.engine import registry
            names = [re.split(r'\s', o)[0] for o in offered]
            assert sorted(names) == sorted(registry())
            page.locator('.sf-method select').select_option(index=names.index(METHOD))
            page.locator('.sf-params select').select_option(label=PARAMS)      # the head: small enough for the session's store
            page.locator('.sf-pick select').select_option(index=PICK)
            page.locator('.sf-k input').fill(str(K)); page.locator('.sf-k input').press('Enter')
            dt1 = _score(page, 1)
            pro, opp = _table(page, 'proponents'), _table(page, 'opponents')
            status1 = page.locator('.sf-status').inner_text()
            print(f'click-to-result (picked example {PICK}, {METHOD}, params {PARAMS}): {dt1:.1f}s; status: {status1}')
            # the browser shows the library's numbers: the same method scored directly in this process
            from spanfluence.explorer import load_task, make_method
            task = load_task('sst2', n_train=200, progress=False)
            assert '200 training examples' in status1
            ref = make_method(task, METHOD, params=PARAMS, device='cpu').score(task.train, task.test.iloc[[PICK]])
            rp, ro = ref.proponents(K), ref.opponents(K)
            assert [r[2] for r in pro] == list(rp.train_id) and [r[2] for r in opp] == list(ro.train_id)
            for shown, want in ((pro, rp), (opp, ro)):
                for (_, s, *_), w in zip(shown, want.score):
                    assert abs(s - w) <= 1e-3*abs(w) + 1e-12, (s, w)    # shown with 4 significant digits
            assert [r[3] for r in pro] == [task.label_names[v] for v in rp.train_label]
            assert task.test.text.iat[PICK] in page.locator('.sf-test-view').inner_text()
            assert page.locator('.sf-ranked-view mark').count() >= len(pro) + len(opp)
            # the chart: the score histogram and one rule per top unit, in the SVG drawn by vl-convert
            svg = page.locator('.sf-chart svg')
            assert svg.count() == 1
            rules = [page.locator('.sf-chart svg g.mark-rule.role-mark line').nth(i).get_attribute('aria-label')
                     for i in range(page.locator('.sf-chart svg g.mark-rule.role-mark line').count())]
            assert len(rules) == len(pro) + len(opp), rules
            assert sum(': proponent' in r for r in rules) == len(pro) and sum(': opponent' in r for r in rules) == len(opp), rules
            assert page.locator('.sf-chart svg g.mark-rect.role-mark path').count() >= 5      # the histogram's bars
            assert f'top {K} marked' in svg.text_content()
            page.locator('.sf-explorer').screenshot(path=str(shots/'explorer_picked.png'))
            # a typed sentence: the training features come from the session's store
            page.locator('.sf-text input').fill(TYPED)
            dt2 = _score(page, 2)
            status2 = page.locator('.sf-status').inner_text()
            print(f'click-to-result (typed sentence): {dt2:.1f}s; status: {status2}')
            assert TYPED in page.locator('.sf-test-view').inner_text()
            assert len(_table(page, 'proponents')) + len(_table(page, 'opponents')) > 0
            from spanfluence.explorer import store_supported
            if store_supported():
                n_states = len(ref.info['states'])
                assert re.search(rf'\b{n_states} gradients\b', status2), status2   # only the typed sentence's, one per checkpoint
            page.locator('.sf-explorer').screenshot(path=str(shots/'explorer.png'))
            print(f'screenshots: {shots/"explorer_picked.png"}, {shots/"explorer.png"}')
            assert dt1 < 600 and dt2 < 600
        finally:
            ctx.close()
