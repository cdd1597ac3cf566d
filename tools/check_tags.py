#!/usr/bin/env python3
"""tools/check_tags.py — the chapters and the code name the same equations and sections.

Usage: python3 tools/check_tags.py [REPO_ROOT]      (`make check-tags`)

Chapter N is every chapters/NN_*.md, read in file-name order (06_hw_aware_cuda.md, then
06_hw_aware_cuda_lm.md). Stage N is the directory NN_*/ and its C/CUDA sources.

In a chapter:
  - sections are headings `## N.k Title`, numbered 1, 2, 3, ... in reading order;
    subsections `### N.k.j Title`, if numbered, likewise inside their section;
  - equations are numbered with `\\tag{N.k}` (or `\\tag{N.ka}` for parts of one equation)
    inside display math `$$ ... $$`, numbers increasing in reading order (parts a, b, c, ...
    in order); each tag is defined once;
  - a reference `§N.k` must name a section and `(N.k)` an equation, of any chapter;
  - sections are written §N.k, not "section N.k".
In the code of stage N (comments only):
  - every equation tag of chapter N appears as `(N.k)` in a comment (the function that
    computes it says so);
  - every `(M.k)` in a comment names an equation of chapter M, and every `§M.k` a section.
Exit 0 when all holds, 1 with one line per problem otherwise.
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..'))
CODE_EXT = ('.c', '.h', '.cu', '.cuh')

problems = []
# "Unicode §3.9", "the paper's §4.1": a section of another document, not of this book
EXTERNAL = re.compile(r"(Unicode|paper|paper's|RFC\s*\d+|standard|spec|specification|C11|POSIX)\s*$")


def problem(where, msg):
    problems.append(f'{where}: {msg}')


def chapters():
    """{N: [paths]} for chapters/NN_*.md."""
    out = {}
    d = os.path.join(ROOT, 'chapters')
    for name in sorted(os.listdir(d)):
        m = re.match(r'(\d\d)_.*\.md$', name)
        if m:
            out.setdefault(int(m.group(1)), []).append(os.path.join(d, name))
    return out


def strip_code(text):
    """The chapter without fenced code blocks and inline code (they may hold any text);
    line count kept so line numbers stay right."""
    out, fence = [], None
    for line in text.split('\n'):
        m = re.match(r'\s*(```+|~~~+)', line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append('')
            continue
        if m:
            fence = m.group(1)
            out.append('')
            continue
        out.append(re.sub(r'`[^`]*`', '``', line))
    return out


def tag_key(tag):
    m = re.match(r'(\d+)\.(\d+)([a-z]?)$', tag)
    return int(m.group(2)), m.group(3)


def read_chapter(n, paths):
    """Sections, equation tags (in order) and references of chapter n."""
    secs, tags, refs = [], [], []   # refs: (where, kind, label)
    for path in paths:
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding='utf-8') as f:
            lines = strip_code(f.read())
        in_math = False
        for i, line in enumerate(lines, 1):
            where = f'{rel}:{i}'
            h = re.match(r'(#{2,3})\s+(\d+(?:\.\d+)+)\s', line)
            if h:
                secs.append((where, len(h.group(1)), h.group(2)))
            elif re.match(r'#{2,3}\s+§', line):
                problem(where, 'a heading is numbered "## N.k Title", without §')
            for t in re.findall(r'\\tag\{([^}]*)\}', line):
                if not in_math and '$$' not in line:
                    problem(where, f'\\tag{{{t}}} outside display math $$ ... $$')
                if not re.match(rf'{n}\.\d+[a-z]?$', t):
                    problem(where, f'equation tag \\tag{{{t}}} is not of the form {n}.k in chapter {n}')
                else:
                    tags.append((where, t))
            if line.count('$$') % 2 == 1:
                in_math = not in_math
            # references: (N.k) outside the tags, §N.k
            plain = re.sub(r'\\tag\{[^}]*\}', '', line)
            for m in re.finditer(r'\\eqref\{([^}]*)\}|\((\d+\.\d+[a-z]?)\)', plain):
                refs.append((where, 'eq', m.group(1) or m.group(2)))
            for m in re.finditer(r'§\s*(\d+(?:\.\d+)*)', plain):
                if not EXTERNAL.search(plain[:m.start()]):
                    refs.append((where, 'sec', m.group(1)))
            for m in re.finditer(r'\b[Ss]ections?\s+(\d+\.\d+)\b', plain):
                problem(where, f'write §{m.group(1)}, not "{m.group(0)}"')
    return secs, tags, refs


def check_order(n, secs, tags):
    expect_sec, sub = 1, 0
    for where, level, num in secs:
        parts = [int(p) for p in num.split('.')]
        if parts[0] != n:
            problem(where, f'section {num} in chapter {n}')
            continue
        if level == 2:
            if len(parts) != 2 or parts[1] != expect_sec:
                problem(where, f'section {num}: expected {n}.{expect_sec} (reading order)')
            expect_sec = (parts[1] if len(parts) == 2 else expect_sec) + 1
            sub = 0
        else:
            sub += 1
            if len(parts) != 3 or parts[1] != expect_sec - 1 or parts[2] != sub:
                problem(where, f'subsection {num}: expected {n}.{expect_sec - 1}.{sub}')
    seen, expect, letter = {}, 1, ''
    for where, t in tags:
        if t in seen:
            problem(where, f'equation ({t}) defined twice (first at {seen[t]})')
            continue
        seen[t] = where
        # numbers increase in reading order (a part of the chapter may start a new range,
        # so gaps are allowed); parts a, b, c, ... of one number follow each other
        k, sfx = tag_key(t)
        if k == expect - 1 and sfx and letter and ord(sfx) == ord(letter) + 1:
            letter = sfx
        elif k >= expect and sfx in ('', 'a'):
            expect, letter = k + 1, sfx
        else:
            problem(where, f'equation ({t}) out of reading order (after ({n}.{expect - 1}))')
            expect, letter = max(expect, k + 1), sfx


def stage_dir(n):
    for name in sorted(os.listdir(ROOT)):
        if re.match(rf'{n:02d}_', name) and os.path.isdir(os.path.join(ROOT, name)):
            return name
    return None


def comments(text):
    """The comments of a C/CUDA source, each with its line number."""
    for m in re.finditer(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', text, re.S):
        s = m.group(0)
        if s.startswith('/*') or s.startswith('//'):
            yield text.count('\n', 0, m.start()) + 1, s


def code_tags(stage):
    """[(where, kind, label)] for (M.k) and §M.k in the comments of a stage."""
    out = []
    base = os.path.join(ROOT, stage)
    for dp, dn, fn in os.walk(base):
        dn[:] = sorted(d for d in dn if d not in ('build', 'build-asan', 'out', 'results', 'reference'))
        for name in sorted(fn):
            if not name.endswith(CODE_EXT):
                continue
            path = os.path.join(dp, name)
            rel = os.path.relpath(path, ROOT)
            with open(path, encoding='utf-8', errors='replace') as f:
                text = f.read()
            for line, c in comments(text):
                for m in re.finditer(r'\((\d)\.(\d+[a-z]?)\)', c):
                    out.append((f'{rel}:{line + c.count(chr(10), 0, m.start())}', 'eq',
                                f'{m.group(1)}.{m.group(2)}'))
                for m in re.finditer(r'§\s*(\d+(?:\.\d+)*)', c):
                    if EXTERNAL.search(c[:m.start()]):
                        continue
                    out.append((f'{rel}:{line + c.count(chr(10), 0, m.start())}', 'sec', m.group(1)))
    return out


def main():
    chs = chapters()
    if not chs:
        print('check-tags: no chapters/NN_*.md found', file=sys.stderr)
        return 1
    all_secs, all_tags, info = set(), set(), {}
    for n, paths in sorted(chs.items()):
        secs, tags, refs = read_chapter(n, paths)
        check_order(n, secs, tags)
        all_secs.update(num for _, _, num in secs)
        all_tags.update(t for _, t in tags)
        all_tags.update(t.rstrip('abcdefghij') for _, t in tags)   # (1.5) names (1.5a)...(1.5d)
        info[n] = (tags, refs)
    for n, (tags, refs) in sorted(info.items()):
        for where, kind, label in refs:
            if kind == 'eq' and label not in all_tags and int(label.split('.')[0]) in chs:
                problem(where, f'({label}) names no equation (no \\tag{{{label}}} in the chapters)')
            if kind == 'sec' and label not in all_secs and int(label.split('.')[0]) in chs:
                problem(where, f'§{label} names no section')
    ntags = ncode = 0
    for n, (tags, _) in sorted(info.items()):
        stage = stage_dir(n)
        if stage is None:
            continue
        found = code_tags(stage)
        ncode += len(found)
        in_code = {label for _, kind, label in found if kind == 'eq'}
        for where, t in tags:
            ntags += 1
            base = t.rstrip('abcdefghij')
            if t not in in_code and not (t == base and any(c.startswith(base) and c[len(base):].isalpha()
                                                             for c in in_code)):
                problem(where, f'equation ({t}) appears in no comment of {stage}/ (tag the code that computes it)')
        for where, kind, label in found:
            m = int(label.split('.')[0])
            if m not in chs:
                continue
            if kind == 'eq' and label not in all_tags:
                problem(where, f'code tag ({label}) names no equation of chapter {m}')
            if kind == 'sec' and label not in all_secs:
                problem(where, f'§{label} names no section of chapter {m}')
    for p in problems:
        print(p)
    nsec = len(all_secs)
    if problems:
        print(f'check-tags: {len(problems)} problems ({len(chs)} chapters, {nsec} sections, '
              f'{ntags} equation tags, {ncode} code references)')
        return 1
    print(f'check-tags: {len(chs)} chapters, {nsec} sections, {ntags} equation tags, '
          f'{ncode} code references: all agree')
    return 0


if __name__ == '__main__':
    sys.exit(main())
