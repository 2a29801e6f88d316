#!/usr/bin/env python
"""Build the documentation site from the notebooks' committed outputs, offline and without Quarto.

Every notebook that `nbs/_quarto.yml` names in its sidebar becomes one static page (nbs/index.ipynb -> index.html):
nothing is executed — the pages show the outputs committed with the notebooks (tools/run_nbs.py writes them). The
site loads nothing from the network: no JavaScript at all, one local stylesheet, charts as inline SVG (altair charts
are already rendered to SVG in the notebooks, `spanfluence.viz.offline_charts`), images as data URIs, and math
converted at build time from LaTeX to MathML (latex2mathml), which browsers draw natively — no MathJax.

As in nbdev's Quarto build, cells flagged `#| hide` / `#| include: false` and the `#| default_exp` cell are dropped,
`#| echo: false` hides a cell's code and `#| output: false` its outputs, directive lines are not shown, and links to
`*.ipynb` point at the pages; `#| code-fold: true` folds a cell's code into a <details> element. Unlike nbdev (which executes `show_doc` cells to replace exported code), an `#| export`
cell is shown as its code: the docs are built without running anything.

    python tools/build_docs.py               # -> _docs/ (git-ignored)
    python tools/build_docs.py --out /tmp/site
"""
import argparse, base64, html, json, re, shutil, sys, time
from pathlib import Path
import nbformat, yaml
from nbconvert.filters import ansi2html
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*?)\s*$')


def sidebar(quarto:Path=NBS/'_quarto.yml') -> list:
    "`[(section, [notebook file names])]` of the Quarto sidebar (entries may be names or `{href: ...}`)."
    cfg = yaml.safe_load(quarto.read_text())
    out = []
    for sec in cfg['website']['sidebar']['contents']:
        if isinstance(sec, str): out.append(('', [sec])); continue
        items = [c if isinstance(c, str) else c.get('href') for c in sec.get('contents', [])]
        out.append((sec.get('section', ''), [i for i in items if i]))
    return out


def directives(src:str) -> dict:
    "`{directive: value}` of a cell's `#| ...` lines ('hide' -> '', 'echo: false' -> 'false')."
    d = {}
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if not (m and m.group(1)): continue
        words = m.group(1).split()
        k, v = m.group(1).split(':', 1) if ':' in words[0] else (words[0], ' '.join(words[1:]))
        d[k.strip()] = v.strip().lower()
    return d


# ---- math: LaTeX -> MathML at build time (placeholders keep markdown from touching the TeX) ----
CODE = re.compile(r'(```.*?```|`[^`\n]*`)', re.S)
DISPLAY = re.compile(r'\$\$(.+?)\$\$', re.S)
INLINE = re.compile(r'(?<![\\$\w])\$(?![\s$])((?:[^$\n]|\n(?!\s*\n))+?)(?<![\s\\])\$(?![\w$])')   # no blank line inside


DELIMS = {'\\|': '&#x02016;', '\\langle': '&#x027E8;', '\\rangle': '&#x027E9;', '\\lVert': '&#x02016;', '\\rVert': '&#x02016;',
          '\\{': '{', '\\}': '}', '\\lbrace': '{', '\\rbrace': '}'}


class Math:
    "Swaps the TeX of markdown for tokens, and the tokens of the rendered HTML for MathML; `failed` keeps what did not convert."
    def __init__(self): self.items, self.tex, self.failed = {}, {}, []

    def _token(self, tex:str, display:bool) -> str:
        from latex2mathml.converter import convert
        tok = f'SPFMATH{len(self.items)}X'
        try:
            mml = convert(' '.join(tex.split()), display='block' if display else 'inline')
            for tex_d, ch in DELIMS.items(): mml = mml.replace(f'>{tex_d}<', f'>{ch}<')   # sized delimiters (`\Big\|`) come out as TeX
            if re.search(r'>\\[A-Za-z|{}]', mml): self.failed.append(tex)   # a command it passed through unconverted
        except Exception:
            self.failed.append(tex)
            mml = f'<code class="tex">{html.escape(tex)}</code>'
        self.items[tok], self.tex[tok] = mml, tex
        return tok

    def protect(self, md:str) -> str:
        parts = CODE.split(md)   # odd parts are code: left alone
        for i in range(0, len(parts), 2):
            p = DISPLAY.sub(lambda m: self._token(m.group(1), True), parts[i])
            parts[i] = INLINE.sub(lambda m: self._token(m.group(1), False), p)
        return ''.join(parts)

    def restore(self, page:str) -> str:
        tok = re.compile(r'SPFMATH\d+X')
        # in an attribute (a heading's anchor id and its link) the formula becomes its letters: no markup inside quotes
        page = re.sub(r'="([^"<>]*SPFMATH\d+X[^"<>]*)"', lambda m: '="' + tok.sub(lambda t: re.sub(r'\W+', '', self.tex[t.group(0)]), m.group(1)) + '"', page)
        return tok.sub(lambda m: self.items[m.group(0)], page)


# ---- charts: vega's SVGs inline, their ids made unique per chart (clip paths of several charts must not clash) ----
def inline_svg(svg:str, n:int) -> str:
    svg = re.sub(r'<\?xml[^>]*\?>', '', svg)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for i in ids:
        svg = svg.replace(f'id="{i}"', f'id="c{n}-{i}"').replace(f'url(#{i})', f'url(#c{n}-{i})').replace(f'href="#{i}"', f'href="#c{n}-{i}"')
    return svg


def prepare(nb:dict, math:Math) -> tuple:
    "The notebook as the page shows it, and its title (from the first `# ` heading)."
    cells, title, n_svg = [], None, 0
    for c in nb['cells']:
        src = c['source']; d = directives(src)
        if {'hide', 'default_exp'} & d.keys() or d.get('include') == 'false': continue
        body = '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip('\n')
        c = nbformat.from_dict(dict(c, source=body))
        if c['cell_type'] == 'markdown':
            if title is None and (m := re.match(r'#\s+(.+)', body)): title = m.group(1).strip()
            body = re.sub(r'\]\((?!https?:)([\w.-]+)\.ipynb(#[^)]*)?\)', lambda m: f']({m.group(1)}.html{m.group(2) or ""})', body)
            c['source'] = math.protect(body)
        elif c['cell_type'] == 'code':
            if d.get('echo') == 'false': c['source'] = ''
            c.metadata['fold'] = d.get('code-fold') == 'true'   # Quarto folds the code of such a cell; so do we
            outs = []
            for o in ([] if d.get('output') == 'false' else c.get('outputs', [])):
                data = o.get('data', {})
                if 'image/svg+xml' in data:
                    n_svg += 1
                    o = nbformat.from_dict(dict(o, data={'image/svg+xml': inline_svg(data['image/svg+xml'], n_svg)}))
                elif 'text/markdown' in data:
                    o = nbformat.from_dict(dict(o, data=dict(data, **{'text/markdown': math.protect(data['text/markdown'])})))
                outs.append(o)
            c['outputs'] = outs
            if not c['source'] and not outs: continue
        cells.append(c)
    return nbformat.from_dict(dict(nb, cells=cells)), title


MIME = ('text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'text/markdown', 'text/plain')   # the first one an output has


def render_output(o) -> str:
    "One output as HTML: an error's traceback, a stream, or the richest of its mime types."
    t = o.get('output_type')
    if t == 'error': return f'<div class="output error"><pre>{ansi2html(chr(10).join(o.get("traceback", [])))}</pre></div>'
    if t == 'stream': return f'<div class="output stream {o.get("name", "stdout")}"><pre>{ansi2html(o.get("text", ""))}</pre></div>'
    data = o.get('data', {})
    kind = next((m for m in MIME if m in data), None)
    if kind is None: return ''
    v = data[kind]
    if kind == 'text/html': return f'<div class="output html">{v}</div>'
    if kind == 'image/svg+xml': return f'<div class="output chart">{v}</div>'
    if kind in ('image/png', 'image/jpeg'):
        size = ''.join(f' {k}="{int(o.get("metadata", {}).get(kind, {})[k])}"' for k in ('width', 'height')
                       if k in o.get('metadata', {}).get(kind, {}))
        return f'<div class="output image"><img src="data:{kind};base64,{"".join(v.split())}"{size} alt="output image"></div>'
    if kind == 'text/markdown': return f'<div class="output markdown">{markdown2html_mistune(v)}</div>'
    return f'<div class="output text"><pre>{html.escape(v)}</pre></div>'


def render(nb) -> str:
    "The page body of a prepared notebook: markdown as HTML, code highlighted by pygments, then the outputs."
    out, lexer, fmt = [], PythonLexer(), HtmlFormatter(cssclass='highlight')
    for c in nb.cells:
        if c.cell_type == 'markdown': out.append(f'<div class="cell markdown">{markdown2html_mistune(c.source)}</div>')
        elif c.cell_type == 'code':
            code = highlight(c.source, lexer, fmt) if c.source.strip() else ''
            if code and c.metadata.get('fold'): code = f'<details><summary>Code</summary>{code}</details>'
            out.append(f'<div class="cell code">{code}{"".join(render_output(o) for o in c.outputs)}</div>')
    return '\n'.join(out)


CSS = """
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #222; }
nav.sidebar { position: fixed; top: 0; bottom: 0; left: 0; width: 15rem; overflow-y: auto; padding: 1rem;
  background: #f6f7f9; border-right: 1px solid #e3e5e8; box-sizing: border-box; font-size: 0.92rem; }
nav.sidebar .site { font-weight: 700; font-size: 1.15rem; display: block; margin-bottom: 1rem; color: #2c5aa0; text-decoration: none; }
nav.sidebar h2 { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; color: #666; margin: 1.1rem 0 0.3rem; }
nav.sidebar ul { list-style: none; margin: 0; padding: 0; }
nav.sidebar li a { display: block; padding: 0.15rem 0.4rem; color: #333; text-decoration: none; border-radius: 3px; }
nav.sidebar li a.active { background: #2c5aa0; color: white; }
main { margin-left: 15rem; padding: 1.5rem 2.5rem 4rem; max-width: 62rem; }
main h1 { margin-top: 0.3rem; }
.cell.markdown blockquote { color: #555; border-left: 3px solid #2c5aa0; margin-left: 0; padding-left: 1rem; }
div.highlight { background: #f7f7f7; border-radius: 4px; }
div.highlight pre { padding: 0.6rem 0.8rem; margin: 0.6rem 0 0.2rem; overflow-x: auto; font-size: 0.86rem; }
.output { overflow-x: auto; margin: 0.3rem 0 0.9rem; font-size: 0.86rem; }
.output pre { border-left: 2px solid lightsalmon; padding-left: 0.8rem; margin: 0.3rem 0; }
.output.stream.stderr pre, .output.error pre { background: #fdd; }
table.dataframe { border-collapse: collapse; font-size: 0.84rem; }
table.dataframe th, table.dataframe td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }
.output.chart svg { max-width: 100%; height: auto; }
code.tex { color: #8a3b12; }
math[display="block"] { margin: 0.8rem 0; }
details > summary { cursor: pointer; color: #2c5aa0; margin-top: 0.6rem; }
a.anchor-link { margin-left: 0.3rem; font-size: 0.7em; text-decoration: none; opacity: 0.35; }
"""


def page(title:str, body:str, nav:str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{html.escape(title)} – spanfluence</title>\n'
            f'<link rel="stylesheet" href="site.css"></head>\n<body>\n{nav}\n<main>\n{body}\n</main>\n</body></html>\n')


def navigation(sections:list, titles:dict, current:str) -> str:
    out = ['<nav class="sidebar"><a class="site" href="index.html">spanfluence</a>']
    for sec, items in sections:
        if sec: out.append(f'<h2>{html.escape(sec)}</h2>')
        out.append('<ul>')
        for it in items:
            href = Path(it).with_suffix('.html').name
            cls = ' class="active"' if it == current else ''
            out.append(f'<li><a href="{href}"{cls}>{html.escape(titles.get(it, it))}</a></li>')
        out.append('</ul>')
    out.append('</nav>')
    return '\n'.join(out)


def build(out:Path, quarto:Path=NBS/'_quarto.yml') -> dict:
    "Write the site into `out`; returns `{pages, seconds, math, math_failed, charts, missing}`."
    t0, sections = time.time(), sidebar(quarto)
    names = list(dict.fromkeys(n for _, items in sections for n in items))
    if 'index.ipynb' not in names: names.insert(0, 'index.ipynb')
    missing = [n for n in names if not (NBS/n).exists()]
    if missing: raise FileNotFoundError(f"_quarto.yml names notebooks that do not exist: {missing}")
    out.mkdir(parents=True, exist_ok=True)
    (out/'site.css').write_text(CSS + HtmlFormatter(style='default').get_style_defs('.highlight'))
    math, prepared = Math(), {}
    for n in names:
        prepared[n] = prepare(nbformat.read(NBS/n, as_version=4), math)
    titles = {n: (t or Path(n).stem) for n, (_, t) in prepared.items()}
    titles['index.ipynb'] = 'Home'
    charts = 0
    for n, (nb, _) in prepared.items():
        body = render(nb)
        charts += body.count('<div class="output chart">')
        (out/Path(n).with_suffix('.html').name).write_text(math.restore(page(titles[n], body, navigation(sections, titles, n))))
    return dict(pages=len(names), seconds=time.time() - t0, math=len(math.items), math_failed=math.failed, charts=charts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(ROOT/'_docs'), help='output folder (default: _docs, git-ignored)')
    p.add_argument('--clean', action='store_true', help='empty the output folder first')
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.clean and out.exists(): shutil.rmtree(out)
    r = build(out)
    print(f"{r['pages']} pages, {r['charts']} charts, {r['math']} formulas ({len(r['math_failed'])} left as TeX) "
          f"in {r['seconds']:.1f}s -> {out}")
    for t in r['math_failed']: print(f'  not converted to MathML: {t!r}', file=sys.stderr)


if __name__ == '__main__': main()
