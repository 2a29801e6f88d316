"""The documentation site: tools/build_docs.py builds it offline from the notebooks' committed outputs, and what a reader
sees there is checked — every notebook is a page reached from the sidebar, no cell shows an error or a warning, a cell
that displays a result keeps it, every image decodes, every chart is a drawn picture (not a vega-lite spec waiting for
JavaScript from a CDN), the pages load nothing from the network, and a real browser draws a chart.

When does a cell "display a result"? The rule is the one Jupyter itself applies: the cell's last statement is an
expression, not ended by `;`, so its value is shown. Cells that are not run or not shown are exempt (flags `slow`,
`cuda`, `notest`, `eval: false`, `output: false`, `include: false`, `hide`), and so are `#| export` cells (the library)
and expressions whose value is None by convention: fastcore's `test_*`, `assert*` (`torch.testing.assert_close`),
`print` excepted (it writes a stream, so it must keep one), and in-place calls (`.append`, `.update`, `.backward`, ...).
"""
import ast, base64, binascii, json, re, sys, time
from html.parser import HTMLParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import build_docs   # noqa: E402
from spanfluence.viz import data_marks   # noqa: E402

NBS = sorted((ROOT/'nbs').glob('*.ipynb'))
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*?)\s*$')
NOT_SHOWN = {'hide', 'export', 'exporti', 'exports', 'default_exp', 'slow', 'cuda', 'notest'}
NONE_CALLS = re.compile(r'^(test_\w*|assert\w*|seed|manual_seed|rmtree|unlink|mkdir|remove|chdir|setattr|exec|sleep|save|update|extend|'
                        r'append|add|clear|enable|register|set_\w+|filterwarnings|simplefilter|warn|zero_|copy_|fill_|backward|step|zero_grad)$')
BUILD_LIMIT_S = 45   # the whole site; about 10 s here on a busy 2-core machine


def cells(path): return json.loads(path.read_text())['cells']


def flags(src:str) -> set:
    "The cell's directives, `key` or `key:value` without spaces ('eval:false')."
    out = set()
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if m and m.group(1):
            d = m.group(1).replace(' ', '').lower()
            out.add(d if ':' in d else re.split(r'\W', m.group(1))[0])
    return out


def shows_result(src:str) -> bool:
    "Whether a run of this cell displays something (the rule of the module docstring)."
    f = flags(src)
    if f & NOT_SHOWN or {'eval:false', 'output:false', 'include:false'} & f: return False
    code = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(code)
    except SyntaxError: return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or code.rstrip().endswith(';'): return False
    v = tree.body[-1].value
    if isinstance(v, ast.Constant) and v.value in (None, Ellipsis): return False
    if isinstance(v, ast.Call):
        fn = v.func.id if isinstance(v.func, ast.Name) else v.func.attr if isinstance(v.func, ast.Attribute) else ''
        if NONE_CALLS.match(fn): return False
    return True


def test_shows_result_rule():
    assert shows_result('x = 1\nx') and shows_result('pd.Series(errs)') and shows_result('print(3)') and shows_result('chart')
    assert not shows_result('x = 1') and not shows_result('test_eq(1, 1)') and not shows_result('torch.testing.assert_close(a, b)')
    assert not shows_result('#| slow\nx') and not shows_result('#| export\nf') and not shows_result('#| eval: false\nx')
    assert not shows_result('x;') and not shows_result('for i in x: i') and not shows_result('l.append(3)')


class Page(HTMLParser):
    "The tags of a built page that matter: nav links, images, scripts, external resources, SVG charts."
    def __init__(self, text):
        super().__init__(); self.nav, self.imgs, self.scripts, self.remote, self.markup_in_attrs, self._in_nav = [], [], 0, [], [], False
        self.feed(text)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'nav': self._in_nav = True
        if tag == 'a' and self._in_nav: self.nav.append(a.get('href'))
        if tag == 'img': self.imgs.append(a.get('src', ''))
        if tag == 'script': self.scripts += 1
        self.markup_in_attrs += [(tag, k) for k, v in attrs if v and '<' in v and not v.startswith('data:')]
        for k in ('src', 'href'):   # anything the page would fetch (a plain <a> link is not fetched)
            v = a.get(k) or ''
            if tag != 'a' and re.match(r'(https?:)?//', v): self.remote.append((tag, v))
    def handle_endtag(self, tag):
        if tag == 'nav': self._in_nav = False


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    t0 = time.time(); r = build_docs.build(out); r['wall'] = time.time() - t0
    r['parsed'] = {page.name: Page(page.read_text()) for page in out.glob('*.html')}   # parsed once, for the tests below
    return out, r


def test_site_builds(site):
    out, r = site
    names = {n for _, items in build_docs.sidebar() for n in items} | {'index.ipynb'}
    assert r['pages'] == len(names), r
    assert {p.name for p in out.glob('*.html')} == {Path(n).with_suffix('.html').name for n in names}
    assert r['wall'] < BUILD_LIMIT_S, f"the site took {r['wall']:.0f}s to build"
    assert not r['math_failed'], f"LaTeX that latex2mathml did not convert: {r['math_failed']}"
    assert not {n: p.markup_in_attrs for n, p in r['parsed'].items() if p.markup_in_attrs}   # e.g. MathML in a heading's id
    shown = [ROOT/'nbs'/n for n in names]   # every SVG output of these notebooks is an inline chart of the site
    assert r['charts'] == sum(1 for p in shown for c in cells(p) for o in c.get('outputs', []) if 'image/svg+xml' in o.get('data', {}))


def test_sidebar_links_to_every_notebook(site):
    out, r = site
    for name, page in r['parsed'].items():
        missing = [h for h in page.nav if not (out/h.split('#')[0]).is_file()]
        assert not missing, (name, missing)
    nav = r['parsed']['index.html'].nav
    pages = {Path(h).stem for h in nav}
    assert pages == {p.stem for p in NBS}, f"sidebar of _quarto.yml vs nbs/: missing {sorted({p.stem for p in NBS} - pages)}, extra {sorted(pages - {p.stem for p in NBS})}"


def test_pages_load_nothing_from_the_network(site):
    out, r = site
    for name, p in r['parsed'].items():
        assert p.scripts == 0 and not p.remote, (name, p.scripts, p.remote[:3])


SIGNATURES = {'image/png': b'\x89PNG\r\n\x1a\n', 'image/jpeg': b'\xff\xd8\xff', 'image/gif': b'GIF8'}

def test_images_resolve(site):
    out, r = site
    for name, page in r['parsed'].items():
        for src in page.imgs:
            m = re.match(r'data:([\w/+.-]+);base64,(.*)$', src, re.S)
            if not m:
                assert not re.match(r'\w+:', src) and (out/src.split('#')[0]).is_file(), (name, src[:80]); continue
            try: raw = base64.b64decode(m.group(2), validate=True)
            except binascii.Error as e: pytest.fail(f'{name}: an image that does not decode ({e})')
            if m.group(1) == 'image/svg+xml': assert b'<svg' in raw[:2000], name
            else: assert raw.startswith(SIGNATURES[m.group(1)]), (name, m.group(1), raw[:8])


def outputs(path): return [(c, o) for c in cells(path) if c['cell_type'] == 'code' for o in c.get('outputs', [])]


@pytest.mark.parametrize('path', NBS, ids=lambda p: p.stem)
def test_no_errors_or_warnings(path):
    bad = [(c.get('id'), o.get('ename') or ''.join(o.get('text', ''))[:200]) for c, o in outputs(path)
           if o['output_type'] == 'error' or (o['output_type'] == 'stream' and o.get('name') == 'stderr')]
    assert not bad, f"{path.name}: error or stderr outputs (rerun tools/run_nbs.py): {bad}"


@pytest.mark.parametrize('path', NBS, ids=lambda p: p.stem)
def test_results_are_kept(path):
    lost = [c.get('id') for c in cells(path) if c['cell_type'] == 'code' and not c.get('outputs') and shows_result(''.join(c['source']))]
    assert not lost, f"{path.name}: cells that display a result were committed without it: {lost} (tools/run_nbs.py, then nbdev_clean)"


@pytest.mark.parametrize('path', NBS, ids=lambda p: p.stem)
def test_charts_are_drawn(path):
    for c, o in outputs(path):
        data = o.get('data', {})
        js = [k for k in data if k.startswith(('application/vnd.vegalite', 'application/vnd.vega'))]
        assert not js and 'vegaEmbed' not in ''.join(data.get('text/html', '')), f"{path.name} {c.get('id')}: a chart left to JavaScript (call spanfluence.viz.offline_charts())"
        plain = ''.join(data.get('text/plain', ''))
        if 'image/svg+xml' in data and 'role-mark' in ''.join(data['image/svg+xml']) or plain.startswith(('alt.', '<VegaLite')):
            if 'image/png' in data:
                assert base64.b64decode(''.join(data['image/png'])).startswith(SIGNATURES['image/png']), (path.name, c.get('id'))
                continue
            assert 'image/svg+xml' in data, f"{path.name} {c.get('id')}: an altair chart without its picture"
            marks = data_marks(''.join(data['image/svg+xml']))
            assert sum(marks.values()) > 0, f"{path.name} {c.get('id')}: a chart with no data marks drawn {marks}"


def test_browser_draws_chart(tmp_path):
    "Chromium opens a built page with the network blocked and lays out the three bars of 98_viz's chart, heights 1 : 3 : 2."
    sync_api = pytest.importorskip('playwright.sync_api')
    chromium = Path('/usr/bin/chromium')
    if not chromium.exists(): pytest.skip('no /usr/bin/chromium')
    (tmp_path/'_quarto.yml').write_text('website:\n  sidebar:\n    contents:\n      - section: Tools\n        contents:\n          - 98_viz.ipynb\n')
    build_docs.build(tmp_path/'site', quarto=tmp_path/'_quarto.yml')
    page_file = tmp_path/'site'/'98_viz.html'
    args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-quic', '--no-first-run']
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        try:
            page, fetched = b.new_page(), []
            page.route('**/*', lambda r: (fetched.append(r.request.url), r.continue_() if r.request.url.startswith('file:') else r.abort()))
            page.goto(page_file.as_uri()); page.wait_for_load_state('load')
            bars = page.eval_on_selector_all('.output.chart svg g.role-mark path[role="graphics-symbol"]',
                                             'els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height, getComputedStyle(e).fill]; })')
            sheet = page.evaluate('getComputedStyle(document.querySelector("nav.sidebar")).position')
        finally: b.close()
    assert not [u for u in fetched if not u.startswith('file:')], fetched
    assert sheet == 'fixed'                                   # the local stylesheet was applied
    assert len(bars) == 3, bars
    h = [x[1] for x in bars]
    assert all(x[0] > 0 for x in bars) and all(x[2] not in ('none', '') for x in bars), bars
    assert [round(v/h[0], 3) for v in h] == [1.0, 3.0, 2.0], h   # drawn from the data: tolerance 1e-3 of layout rounding
