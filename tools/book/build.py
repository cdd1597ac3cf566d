#!/usr/bin/env python3
"""tools/book/build.py — render chapters/*.md into the HTML book docs/book/ (make docs).

pandoc does the rendering (Markdown -> HTML5, code highlighted by its own highlighter), KaTeX
(Debian's libjs-katex, copied into the book) the math, offline; tools/book/book.lua pulls code
excerpts out of the sources, copies the plots in and links equation and section numbers.

Plots: a chapter's figures are the stage's out/*.png, drawn by `make -C NN_stage run`; where a
stage keeps a committed copy under results/ (GPU plots) that copy is used. A plot the text only
names in a code span (`out/loss_copy.png`) is shown as a figure below that paragraph when it has
been drawn (book.lua); those not drawn yet are listed, not drawn (a demo can take many minutes). A figure found in
neither place is drawn first: this script runs the stage's demo (`make -C NN_stage run`) once.
With --no-plots (BOOK_MISSING_PLOTS=placeholder) it draws nothing and puts a visible
"plot not built" box where a figure is missing; the browser test counts those boxes.

Usage: python3 tools/book/build.py [--out docs/book] [--no-plots] [--hide-labs]
  --hide-labs  a book for a course (make labs): every excerpt that holds a lab's region shows
               it as one comment line, "lab n.k: ... yours to write", not the solution
"""
import argparse
import glob
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
KATEX = '/usr/share/javascript/katex'


def die(msg):
    print(f'docs: {msg}', file=sys.stderr)
    sys.exit(2)


def chapter_info(path):
    """(title, [(num, title)], [tags]) of one chapter file."""
    title, secs, tags = None, [], []
    fence = False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('```'):
                fence = not fence
                continue
            if fence:
                continue
            if title is None and line.startswith('# '):
                title = line[2:].strip()
            m = re.match(r'## ((?:\d+|[A-Z])\.\d+)\s+(.*)', line)   # 6.3, or a part's lettered T.3
            if m:
                secs.append((m.group(1), m.group(2).strip()))
            tags += re.findall(r'\\tag\{([^}]*)\}', line)
    return title or os.path.basename(path), secs, tags


def missing_plots(chapters):
    """{stage: [image]} for figures found neither in out/ nor in results/."""
    need = {}
    for path in chapters:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for src in re.findall(r'!\[[^\]]*\]\(([^)\s]+)', text):
            rel = re.sub(r'^\.\./', '', src)
            cands = [rel] + ([rel.replace('/out/', '/results/')] if '/out/' in rel else [])
            if not any(os.path.exists(os.path.join(ROOT, c)) for c in cands):
                stage = rel.split('/')[0]
                need.setdefault(stage, []).append(rel)
    return need


def committed_missing(need):
    """The missing figures no demo draws (a committed results/ plot, say): running the
    stage's demo would not help."""
    return [r for imgs in need.values() for r in imgs if '/out/' not in r]


def plot_dirs(chapter):
    """The folders a chapter's code spans name plots in, relative to the repository root:
    NN_name/ for chapters/NN_name.md; for a part (NN_name_part.md) NN_name/part/ if it exists,
    else the stage's sub-folders that have a Makefile, then NN_name/ itself."""
    name = os.path.splitext(os.path.basename(chapter))[0]
    if os.path.isdir(os.path.join(ROOT, name)):
        return [name]
    stage = next((d for d in sorted(os.listdir(ROOT)) if name.startswith(d + '_')
                  and os.path.isdir(os.path.join(ROOT, d))), None)
    if stage is None:
        return []
    part = name[len(stage) + 1:]
    if os.path.isdir(os.path.join(ROOT, stage, part)):
        return [f'{stage}/{part}', stage]
    subs = [f'{stage}/{d}' for d in sorted(os.listdir(os.path.join(ROOT, stage)))
            if os.path.isfile(os.path.join(ROOT, stage, d, 'Makefile'))]
    return subs + [stage]


def named_plots(path):
    """({`span`: file}, [missing spans]) for the plots a chapter names in code spans. A span is
    looked for in each of the chapter's folders (plot_dirs): as written, then under results/
    for out/; a bare file name in out/, results/, then anywhere under results/ when that finds
    exactly one. file is relative to the repository root."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    dirs = plot_dirs(path)
    found, missing = {}, []
    for span in sorted(set(re.findall(r'`([\w./-]+\.(?:png|svg))`', text))):
        cands = [f'{d}/{span if "/" in span else "out/" + span}' for d in dirs]
        cands += [c.replace('/out/', '/results/') for c in cands if '/out/' in c]
        hit = next((c for c in cands if os.path.exists(os.path.join(ROOT, c))), None)
        if hit is None and '/' not in span:
            deep = sorted({os.path.relpath(p, ROOT) for d in dirs
                           for p in glob.glob(os.path.join(ROOT, d, 'results', '**', span), recursive=True)})
            hit = deep[0] if len(deep) == 1 else None
        if hit:
            found[span] = hit
        elif dirs:
            missing.append(span)
    return found, missing


def named_plots_missing(chapters):
    """[(chapter, `span`)] for plots the text names in a code span that no folder holds yet."""
    return [(os.path.basename(p), m) for p in chapters for m in named_plots(p)[1]]


def nav(prev, nxt, where):
    parts = ['<nav class="book-nav book-nav-' + where + '">']
    parts.append(f'<a class="prev" href="{prev[0]}">&larr; {html.escape(prev[1])}</a>' if prev
                 else '<span class="prev"></span>')
    parts.append('<a class="contents" href="index.html">Contents</a>')
    parts.append(f'<a class="next" href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>' if nxt
                 else '<span class="next"></span>')
    parts.append('</nav>')
    return '\n'.join(parts) + '\n'


def pandoc(src, dst, title, before, after, env, extra=()):
    cmd = ['pandoc', src, '-f', 'markdown', '-t', 'html5', '-s', '--katex=katex/',
           '--lua-filter', os.path.join(ROOT, 'tools/book/book.lua'),
           '--css', 'book.css', '--highlight-style', 'tango',
           '--metadata', f'pagetitle={title}', '--metadata', 'lang=en',
           '--include-before-body', before, '--include-after-body', after, '-o', dst, *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        die(f'pandoc failed on {os.path.relpath(src, ROOT)}')
    for line in r.stderr.splitlines():
        if line.strip():
            print(f'docs: pandoc: {line}', file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(ROOT, 'docs', 'book'))
    ap.add_argument('--no-plots', action='store_true')
    ap.add_argument('--hide-labs', action='store_true',
                    help="a course's book: excerpts show each lab's region as a comment, not its solution")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    if shutil.which('pandoc') is None:
        die('pandoc is not installed (sudo apt-get install pandoc; common/setup.sh does it)')
    if not os.path.exists(os.path.join(KATEX, 'katex.min.js')):
        die(f'KaTeX is not installed at {KATEX} (sudo apt-get install libjs-katex)')
    chapters = sorted(glob.glob(os.path.join(ROOT, 'chapters', '*.md')))
    if not chapters:
        die('no chapters/*.md')

    missing = 'placeholder' if a.no_plots or os.environ.get('BOOK_MISSING_PLOTS') == 'placeholder' else 'fail'
    if missing == 'fail':
        lost = committed_missing(missing_plots(chapters))
        if lost:
            die(f'{len(lost)} figures the chapters show are not in the repository and no demo draws them: '
                + ', '.join(lost))
        for stage, imgs in sorted(missing_plots(chapters).items()):
            print(f'docs: {len(imgs)} plots of {stage} not drawn yet: running make -C {stage} run',
                  flush=True)
            for cmd in (['make', '-C', stage, '-j2', 'all'], ['make', '-C', stage, 'run']):
                r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if r.returncode != 0:
                    sys.stderr.write(r.stderr[-2000:])
                    die(f'{" ".join(cmd)} failed: cannot draw the plots of {stage}')

    tmp = tempfile.mkdtemp(prefix='book.')
    try:
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(out)
        os.makedirs(os.path.join(out, 'katex'))
        for f in ('katex.min.js', 'katex.min.css'):
            shutil.copy(os.path.join(KATEX, f), os.path.join(out, 'katex', f))
        shutil.copytree(os.path.join(KATEX, 'fonts'), os.path.join(out, 'katex', 'fonts'))
        shutil.copy(os.path.join(ROOT, 'tools/book/book.css'), os.path.join(out, 'book.css'))

        pages = []
        index_lines = []
        for path in chapters:
            name = os.path.splitext(os.path.basename(path))[0]
            title, secs, tags = chapter_info(path)
            page = name + '.html'
            pages.append((path, page, title, secs))
            for num, _ in secs:
                index_lines.append(f'sec{num}\t{page}#sec-{num}')
            for t in tags:
                index_lines.append(f'eq{t}\t{page}#eq-{t}')
        idx = os.path.join(tmp, 'index.tsv')
        with open(idx, 'w') as f:
            f.write('\n'.join(index_lines) + '\n')
        env = dict(os.environ, BOOK_ROOT=ROOT, BOOK_OUT=out, BOOK_INDEX=idx, BOOK_MISSING_PLOTS=missing,
                   BOOK_HIDE_LABS='1' if a.hide_labs else '0')

        for i, (path, page, title, secs) in enumerate(pages):
            prev = (pages[i - 1][1], pages[i - 1][2]) if i > 0 else None
            nxt = (pages[i + 1][1], pages[i + 1][2]) if i + 1 < len(pages) else None
            before = os.path.join(tmp, 'before.html')
            after = os.path.join(tmp, 'after.html')
            with open(before, 'w') as f:
                f.write(nav(prev, nxt, 'top'))
            # the chapter's code: the first of its folders with a README (a part's sub-stage first)
            stage = [d for d in plot_dirs(path) if os.path.isfile(os.path.join(ROOT, d, 'README.md'))]
            with open(after, 'w') as f:
                if stage:
                    sname = stage[0]
                    f.write(f'<p class="stage-link">The code of this chapter: <a href="stage-{sname.replace("/", "-")}.html">'
                            f'{html.escape(sname)}</a> (build, run, check your own implementation).</p>\n')
                f.write(nav(prev, nxt, 'bottom'))
            plot_map = os.path.join(tmp, 'plots.tsv')
            with open(plot_map, 'w') as f:
                f.write(''.join(f'{k}\t{v}\n' for k, v in named_plots(path)[0].items()))
            pandoc(path, os.path.join(out, page), title, before, after,
                   dict(env, BOOK_PLOT_MAP=plot_map), extra=('--toc', '--toc-depth=2'))

        # the stages' READMEs: how to build, run and check each stage, one page each
        # (and a sub-stage's, a folder of a stage with its own Makefile: 06_hw_aware_cuda/lm)
        readmes = []
        found = glob.glob(os.path.join(ROOT, '[0-9][0-9]_*', 'README.md')) + \
            [p for p in glob.glob(os.path.join(ROOT, '[0-9][0-9]_*', '*', 'README.md'))
             if os.path.isfile(os.path.join(os.path.dirname(p), 'Makefile'))]
        for path in sorted(found):
            stage = os.path.relpath(os.path.dirname(path), ROOT)
            title, _, _ = chapter_info(path)
            if not title.startswith(stage):   # most READMEs open with the stage's name already
                title = f'{stage}: {title}'
            readmes.append((path, f"stage-{stage.replace('/', '-')}.html", title, stage))
        for i, (path, page, title, stage) in enumerate(readmes):
            prev = (readmes[i - 1][1], readmes[i - 1][2]) if i > 0 else None
            nxt = (readmes[i + 1][1], readmes[i + 1][2]) if i + 1 < len(readmes) else None
            before = os.path.join(tmp, 'before.html')
            after = os.path.join(tmp, 'after.html')
            with open(before, 'w') as f:
                f.write(nav(prev, nxt, 'top'))
            with open(after, 'w') as f:
                f.write(nav(prev, nxt, 'bottom'))
            pandoc(path, os.path.join(out, page), title, before, after, dict(env, BOOK_BASE=stage))

        # the contents page
        md = ['# ode-to-mamba: the book', '',
              'From a linear ODE to Mamba, every step implemented in C and CUDA and measured. '
              'Each chapter belongs to a stage of the repository (`NN_name/`): read the chapter, '
              'run `make -C NN_name run`, and read the code it names.', '']
        for path, page, title, secs in pages:
            md.append(f'- **[{title}](chapters/{os.path.basename(path)})**')
            for num, stitle in secs:
                md.append(f'    - [{num} {stitle}](chapters/{os.path.basename(path)}#sec-{num})')
        if readmes:
            md += ['', '**The stages** (how to build, run and check each one):', '']
            for path, page, title, stage in readmes:
                md.append(f'- [{title}]({stage}/README.md)')
        md += ['', f'Built by `make docs` from `chapters/*.md` and the stages\' READMEs: '
               f'{len(pages)} chapters, {len(readmes)} stage pages.']
        src = os.path.join(tmp, 'index.md')
        with open(src, 'w') as f:
            f.write('\n'.join(md) + '\n')
        empty = os.path.join(tmp, 'empty.html')
        open(empty, 'w').close()
        first = (pages[0][1], pages[0][2])
        with open(os.path.join(tmp, 'after.html'), 'w') as f:
            f.write(nav(None, first, 'bottom'))
        pandoc(src, os.path.join(out, 'index.html'), 'ode-to-mamba: contents', empty,
               os.path.join(tmp, 'after.html'), dict(env, BOOK_BASE='.'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    unnamed = named_plots_missing(chapters)
    if unnamed:
        print(f'docs: {len(unnamed)} plots the text names are not drawn yet, so not shown (run the '
              f'stage\'s demo, then make docs again): ' + ', '.join(f'{c}: {p}' for c, p in unnamed))
    print(f'docs: {len(pages)} chapter pages, {len(readmes)} stage pages and a contents page in {os.path.relpath(out, ROOT)}/ '
          f'(open {os.path.relpath(out, ROOT)}/index.html)')


if __name__ == '__main__':
    main()
