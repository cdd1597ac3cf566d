#!/usr/bin/env python3
"""tools/labs/labs.py — the course labs, generated from the reference code.

  python3 tools/labs/labs.py generate [STAGE...]   make labs: labs/NN_name/ for each stage
  python3 tools/labs/labs.py test [STAGE...]       make test-labs: the autograder can tell
  python3 tools/labs/labs.py test --build DIR STAGE     build every variant here, grade none
  python3 tools/labs/labs.py test --prebuilt DIR STAGE  grade the variants built there (a GPU
                                                        machine without a compiler)
  python3 tools/labs/labs.py deps STAGE            which tests each region's stub breaks
  python3 tools/labs/labs.py sizes [STAGE...]      each reference solution's size (lines, tokens)

A lab is a region of a stage's source between `/* LAB n.k BEGIN: ... */` and
`/* LAB END */` (tools/labs/labs_def.py lists them with their stubs, tasks and graded
tests). labs/NN_name/ is a self-contained tree: common/, the earlier stages it links (as
they are), the stage with every region replaced by its stub (the skeleton), the stage's
golden vectors, the chapter, lab-n.k/HANDOUT.md per lab, grade.py and a Makefile whose
`make grade` builds the stage, runs exactly its Check tests and `--check` on its golden
vectors, and prints a score per lab and a total.

`test` proves the grader can tell: on the skeleton every lab's graded tests fail; with the
reference regions back they all pass (and --check passes); with one region swapped in at a
time (with the regions it requires, for a backward graded against its forward), that lab
passes and no other does. One build per variant; only the test binaries that hold graded
tests run.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
from labs_def import GOLDEN_UNTOUCHED, LABS  # noqa: E402

BEGIN_RE = re.compile(r'^(\s*)/\*\s*LAB\s+(\d+\.\d+)\s+BEGIN:\s*(.*?)\s*\*/\s*$')
END_RE = re.compile(r'^\s*/\*\s*LAB\s+END\s*\*/\s*$')


def die(msg):
    print(f'labs: {msg}', file=sys.stderr)
    sys.exit(2)


def labs_of(stage):
    return [lab for lab in LABS if lab['stage'] == stage]


def stages():
    return sorted({lab['stage'] for lab in LABS})


def regions(text, path):
    """{id: (begin_line_index, end_line_index, indent, description)} of a source text."""
    out, cur = {}, None
    for i, line in enumerate(text.split('\n')):
        m = BEGIN_RE.match(line)
        if m:
            if cur:
                die(f'{path}:{i + 1}: LAB {m.group(2)} BEGIN inside LAB {cur[0]}')
            cur = (m.group(2), i, m.group(1), m.group(3))
        elif END_RE.match(line):
            if not cur:
                die(f'{path}:{i + 1}: LAB END without a BEGIN')
            if cur[0] in out:
                die(f'{path}: LAB {cur[0]} marked twice')
            out[cur[0]] = (cur[1], i, cur[2], cur[3])
            cur = None
    if cur:
        die(f'{path}: LAB {cur[0]} BEGIN has no LAB END')
    return out


def region_size(lab):
    """(lines of code, tokens) of a lab's reference region: its lines that are not blank, a
    comment or a lone brace, and the C tokens on them — the size of the answer, measured."""
    with open(os.path.join(ROOT, lab['file']), encoding='utf-8') as f:
        text = f.read()
    b, e, _, _ = regions(text, lab['file'])[lab['id']]
    code = [l.strip() for l in text.split('\n')[b + 1:e]]
    code = [l for l in code if l and l not in ('{', '}') and not re.match(r'^(/\*.*\*/|//.*|\*.*)$', l)]
    tokens = sum(len(re.findall(r'[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?[fF]?|[^\s\w]', l)) for l in code)
    return len(code), tokens


def render(path, keep):
    """The source at `path` with every region whose lab is not in `keep` replaced by its
    stub (the markers stay, so the student sees where to write)."""
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        text = f.read()
    regs = regions(text, path)
    lines = text.split('\n')
    wanted = [lab for lab in LABS if lab['file'] == path]
    for lab in wanted:
        if lab['id'] not in regs:
            die(f"{path}: no marker /* LAB {lab['id']} BEGIN: ... */ (tools/labs/labs_def.py names it)")
    for lab in sorted(wanted, key=lambda l: -regs[l['id']][0]):
        if lab['id'] in keep or lab.get('stub') is None:
            continue
        b, e, ind, _ = regs[lab['id']]
        stub = [ind + s for s in lab['stub']]
        lines = lines[:b + 1] + stub + lines[e:]
    return '\n'.join(lines)


def stage_files(stage):
    return sorted({lab['file'] for lab in labs_of(stage)})


def dep_stages(stage):
    """The stage directories a stage's build needs: every earlier stage (sources only)."""
    num = int(stage[:2])
    return [d for d in sorted(os.listdir(ROOT))
            if re.match(r'\d\d_', d) and os.path.isdir(os.path.join(ROOT, d)) and int(d[:2]) < num]


IGNORE = shutil.ignore_patterns('build', 'build-*', 'out', 'results', 'data', 'fuzz', '__pycache__', '*.o')


def test_binaries(stage_dir):
    """The Check test binaries of a stage, from its Makefile's TESTS and TESTS_F64."""
    with open(os.path.join(stage_dir, 'Makefile'), encoding='utf-8') as f:
        mk = f.read().replace('\\\n', ' ')
    names = []
    for var in ('TESTS', 'TESTS_F64'):
        m = re.search(rf'^{var}\s*:?=\s*(.*)$', mk, re.M)
        if m:
            names += [os.path.splitext(os.path.basename(t))[0] for t in m.group(1).split()]
    return names


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def handout(lab, stage, prog):
    req = ''
    if lab.get('requires'):
        req = ('\n**Do first:** ' + ', '.join(f'lab {r}' for r in lab['requires']) +
               ' — the graded tests of this lab run that code too.\n')
    tests = ', '.join(f'`{t}`' for t in lab['tests'])
    size = region_size(lab)
    golden = (f'pass already: {GOLDEN_UNTOUCHED[stage]}' if stage in GOLDEN_UNTOUCHED
              else 'pass once every lab of the stage is done')
    return f"""# Lab {lab['id']} — {lab['title']}

**Chapter:** §{lab['section']} of `chapter.md` (equations {lab['eqs']}).
**Where:** `{lab['file']}`, function `{lab['function']}`, between the markers
`/* LAB {lab['id']} BEGIN ... */` and `/* LAB END */`. The code there now compiles and returns a
wrong answer on purpose; replace it.
**Time:** about {lab['minutes']} minutes (an estimate: docs/INSTRUCTORS.md says how it was made).
**Size:** the reference solution is {size[0]} lines of code.
{req}
## Task

{lab['task']}

## How to test

    make grade          # from this folder: every lab's score and the total
    make test           # the stage's whole Check suite, with its messages ({stage})

Lab {lab['id']} is graded by the stage's Check tests {tests}; it passes when all of them pass.
The total also runs `{stage}/build/{prog} --check vectors/{stage}`: the golden vectors, which
{golden}.
"""


def generate(stage, dest, keep=()):
    """Write labs/<stage>/ (or dest): the skeleton tree with the regions not in keep stubbed."""
    labs = labs_of(stage)
    if not labs:
        die(f'no labs for {stage}')
    os.makedirs(dest, exist_ok=True)
    if not os.path.exists(os.path.join(dest, 'common')):
        shutil.copytree(os.path.join(ROOT, 'common'), os.path.join(dest, 'common'), ignore=IGNORE)
        for d in dep_stages(stage) + [stage]:
            shutil.copytree(os.path.join(ROOT, d), os.path.join(dest, d), ignore=IGNORE)
        vec = os.path.join(ROOT, 'vectors', stage)
        if os.path.isdir(vec):
            shutil.copytree(vec, os.path.join(dest, 'vectors', stage))
        chap = [c for c in sorted(os.listdir(os.path.join(ROOT, 'chapters'))) if c.startswith(stage[:2] + '_')]
        with open(os.path.join(dest, 'chapter.md'), 'w', encoding='utf-8') as out:
            for c in chap:
                with open(os.path.join(ROOT, 'chapters', c), encoding='utf-8') as f:
                    out.write(f.read() + '\n')
    for path in stage_files(stage):
        write_if_changed(os.path.join(dest, path), render(path, keep))
    prog = re.search(r'^PROG\s*:?=\s*(\S+)', open(os.path.join(ROOT, stage, 'Makefile')).read(), re.M)
    prog = prog.group(1) if prog else stage
    bins = test_binaries(os.path.join(ROOT, stage))
    names = {}
    for b in bins:
        with open(os.path.join(ROOT, stage, 'tests', b + '.c'), encoding='utf-8') as f:
            names[b] = re.findall(r'^START_TEST\s*\(\s*(\w+)\s*\)', f.read(), re.M)
    meta = {'stage': stage, 'prog': prog, 'tests': bins, 'names': names,
            'gpu': any(l.get('gpu') for l in labs),
            'labs': [{k: lab.get(k) for k in ('id', 'title', 'tests', 'requires', 'section', 'file',
                                               'function', 'minutes')} for lab in labs]}
    for lab in labs:
        if not lab.get('tests'):
            continue
        os.makedirs(os.path.join(dest, f"lab-{lab['id']}"), exist_ok=True)
        write_if_changed(os.path.join(dest, f"lab-{lab['id']}", 'HANDOUT.md'), handout(lab, stage, prog))
    write_if_changed(os.path.join(dest, 'labs.json'), json.dumps(meta, indent=1) + '\n')
    shutil.copy(os.path.join(HERE, 'grade.py'), os.path.join(dest, 'grade.py'))
    write_if_changed(os.path.join(dest, 'Makefile'), f"""# labs/{stage} — generated by `make labs` (tools/labs/labs.py); do not edit here.
.PHONY: grade test
grade:
\t@python3 grade.py
test:
\t@$(MAKE) -C {stage} test
""")
    lines = [f'# Labs for {stage}', '',
             f'Generated by `make labs` from the reference code. Read `chapter.md`, then do the labs in',
             f'order; each `lab-n.k/HANDOUT.md` says where and what. `make grade` scores them.', '',
             '| lab | title | section | minutes | reference lines | graded tests |', '|---|---|---|---|---|---|']
    for lab in labs:
        if lab.get('tests'):
            lines.append(f"| {lab['id']} | {lab['title']} | §{lab['section']} | {lab['minutes']} | "
                         f"{region_size(lab)[0]} | {len(lab['tests'])} |")
    write_if_changed(os.path.join(dest, 'README.md'), '\n'.join(lines) + '\n')


def grade_json(dest, binaries=None, golden=True, no_build=False):
    r = subprocess.run([sys.executable, 'grade.py', '--json'] +
                       (['--only', ','.join(binaries)] if binaries is not None else []) +
                       ([] if golden else ['--no-golden']) + (['--no-build'] if no_build else []),
                       cwd=dest, capture_output=True, text=True)
    try:
        return json.loads(r.stdout.strip().split('\n')[-1])
    except (json.JSONDecodeError, IndexError):
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        die(f'grade.py gave no result in {dest}')


def lab_passes(res, lab):
    return all(res['tests'].get(t) == 'P' for t in lab['tests'])


def lab_all_fail(res, lab):
    return all(res['tests'].get(t) != 'P' for t in lab['tests'])


def graded_labs(stage):
    return [l for l in labs_of(stage) if l.get('tests')]


def variants(stage):
    """The trees the autograder test grades: (name, the labs whose reference regions stay).
    The reference, the skeleton, then each lab swapped in alone (with the labs it requires)."""
    labs = graded_labs(stage)
    out = [('reference', {l['id'] for l in labs}), ('skeleton', set())]
    for l in labs:
        out.append((f"lab-{l['id']}", {l['id']} | set(l.get('requires') or [])))
    return out


def has_gpu():
    return subprocess.run('command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1',
                          shell=True).returncode == 0


def build_variants(stage, where):
    """--build DIR: every variant's tree under DIR/<stage>/<variant>/, built here (the stage's
    program and test binaries) and not graded: for a GPU stage built where nvcc is and graded
    with --prebuilt on a GPU machine that has no compiler. A variant starts as a copy of the
    one before (cp -a keeps the times), so only the regions that differ recompile."""
    prev = None
    for name, keep in variants(stage):
        dest = os.path.join(where, stage, name)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        if prev:
            subprocess.run(['cp', '-a', prev, dest], check=True)
        generate(stage, dest, keep=keep)
        bins = [f'build/{b}' for b in json.load(open(os.path.join(dest, 'labs.json')))['tests']]
        r = subprocess.run(['make', '-C', os.path.join(dest, stage), '-j2', 'all'] + bins,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        print(f"test-labs: {stage}: {name} built in {os.path.relpath(dest, ROOT)}"
              f"{'' if r.returncode == 0 else ': BUILD FAILED'}", flush=True)
        if r.returncode != 0:
            sys.stderr.write((r.stdout + r.stderr)[-3000:])
        prev = dest
    return 0, 0


def test_stage(stage, tmp, prebuilt=None):
    """Grade each variant and check what it must show. prebuilt: grade the trees that
    --build left in prebuilt/<stage>/<variant>/ (grade.py --no-build) instead of generating
    and building them here in tmp/<stage>/."""
    labs = graded_labs(stage)
    if not labs:
        print(f'test-labs: {stage}: no graded labs')
        return 0, 0
    if any(l.get('gpu') for l in labs) and not has_gpu():
        print(f'test-labs: {stage}: SKIPPED (its labs are CUDA kernels: needs an NVIDIA GPU)')
        return 0, 0
    ok = bad = 0

    def expect(cond, what):
        nonlocal ok, bad
        if cond:
            ok += 1
        else:
            bad += 1
            print(f'FAIL {stage}: {what}', flush=True)

    ids = [l['id'] for l in labs]
    # the golden set of a stage whose --check runs code no lab stubs passes on the skeleton too
    golden_skeleton = 'P' if stage in GOLDEN_UNTOUCHED else 'F'
    bins = None
    for name, keep in variants(stage):
        if prebuilt:
            dest = os.path.join(prebuilt, stage, name)
            if not os.path.isdir(dest):
                expect(False, f'{name}: no prebuilt tree {dest} (run test --build first)')
                continue
        else:
            dest = os.path.join(tmp, stage)
            generate(stage, dest, keep=keep)
        if name == 'reference':
            res = grade_json(dest, no_build=bool(prebuilt))
            # the binaries that hold graded tests: found in the reference run
            where = res.get('where', {})
            bins = sorted({where[t] for l in labs for t in l['tests'] if t in where})
            for l in labs:
                missing = [t for t in l['tests'] if t not in res['tests']]
                expect(not missing, f"lab {l['id']}: graded tests not in the stage's suites: {missing}")
                expect(lab_passes(res, l), f"lab {l['id']}: fails with the reference code: "
                       f"{[(t, res['tests'].get(t)) for t in l['tests'] if res['tests'].get(t) != 'P']}")
            expect(res['golden'] in ('P', None), '--check on the golden vectors fails with the reference code')
            print(f"test-labs: {stage}: reference: {sum(lab_passes(res, l) for l in labs)}/{len(labs)} labs pass, "
                  f"golden vectors {res['golden']}", flush=True)
        elif name == 'skeleton':
            res = grade_json(dest, bins, no_build=bool(prebuilt))
            expect(res.get('built'), 'the skeleton does not compile')
            for l in labs:
                expect(lab_all_fail(res, l), f"lab {l['id']}: on the skeleton these graded tests pass: "
                       f"{[t for t in l['tests'] if res['tests'].get(t) == 'P']}")
            for l in labs:   # what a student sees first: the message of a failing graded test
                t = next((t for t in l['tests'] if res['tests'].get(t) != 'P'), None)
                if t:
                    print(f"test-labs: {stage}: skeleton: lab {l['id']}: {t} {res['tests'][t]}: "
                          f"{res.get('messages', {}).get(t, '')[:200]}")
            gold = grade_json(dest, [], no_build=bool(prebuilt))['golden']
            expect(gold in (golden_skeleton, None), f'--check on the golden vectors gives {gold} on the skeleton, '
                   f'expected {golden_skeleton}' + (f' ({GOLDEN_UNTOUCHED[stage]})' if stage in GOLDEN_UNTOUCHED else ''))
            print(f"test-labs: {stage}: skeleton: {sum(lab_all_fail(res, l) for l in labs)}/{len(labs)} labs "
                  f"have every graded test failing, golden vectors {gold}", flush=True)
        else:
            lab = next(l for l in labs if f"lab-{l['id']}" == name)
            res = grade_json(dest, bins, golden=False, no_build=bool(prebuilt))
            passing = [m['id'] for m in labs if lab_passes(res, m)]
            expect(sorted(passing) == sorted(keep & set(ids)),
                   f"with lab {lab['id']}" + (f" (and {', '.join(lab['requires'])})" if lab.get('requires') else '') +
                   f" swapped in, the labs that pass are {passing}")
            print(f"test-labs: {stage}: lab {lab['id']} swapped in" +
                  (f" with {', '.join(lab['requires'])}" if lab.get('requires') else '') +
                  f": passing labs {passing}", flush=True)
    return ok, bad


def cmd_generate(args):
    for stage in args or stages():
        dest = os.path.join(ROOT, 'labs', stage)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        generate(stage, dest)
        n = len([l for l in labs_of(stage) if l.get('tests')])
        print(f'labs: labs/{stage}/ ({n} labs; make -C labs/{stage} grade)')


def cmd_test(args):
    """test [--build DIR | --prebuilt DIR] [STAGE...]"""
    build = prebuilt = None
    if args[:1] == ['--build'] and len(args) > 1:
        build, args = os.path.abspath(args[1]), args[2:]
    elif args[:1] == ['--prebuilt'] and len(args) > 1:
        prebuilt, args = os.path.abspath(args[1]), args[2:]
    tmp = tempfile.mkdtemp(prefix='test-labs.')
    ok = bad = 0
    try:
        for stage in args or stages():
            if build:
                build_variants(stage, build)
                continue
            o, b = test_stage(stage, tmp, prebuilt)
            ok += o
            bad += b
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if build:
        print(f'test-labs: built in {build}; grade there with: labs.py test --prebuilt {build} STAGE')
        return 0
    print(f'test-labs: {ok} passed, {bad} failed')
    return 1 if bad else 0


def cmd_sizes(args):
    """The size of each lab's reference solution, next to its time estimate."""
    print('| lab | lines | tokens | graded tests | minutes (estimate) | minutes per line |')
    print('|---|---|---|---|---|---|')
    for lab in LABS:
        if args and lab['stage'] not in args:
            continue
        n, tok = region_size(lab)
        print(f"| {lab['id']} | {n} | {tok} | {len(lab['tests'])} | {lab['minutes']} | {lab['minutes'] / n:.1f} |")


def cmd_deps(args):
    """For each lab of a stage: the tests that fail when only its region is stubbed."""
    stage = args[0]
    tmp = tempfile.mkdtemp(prefix='labs-deps.')
    dest = os.path.join(tmp, stage)
    ids = [l['id'] for l in labs_of(stage) if l.get('stub')]
    generate(stage, dest, keep=set(ids))
    ref = grade_json(dest, golden=False)
    dep = {}
    for i in ids:
        generate(stage, dest, keep=set(ids) - {i})
        res = grade_json(dest, golden=False)
        dep[i] = sorted(t for t, s in res['tests'].items() if s != 'P' and ref['tests'].get(t) == 'P')
        print(f'{i}: {len(dep[i])} tests fail: {dep[i]}', flush=True)
    for i in ids:
        own = [t for t in dep[i] if not any(t in dep[j] for j in ids if j != i)]
        print(f'{i}: only this region: {own}')
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in ('generate', 'test', 'deps', 'sizes'):
        print(__doc__)
        sys.exit(2)
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({'generate': cmd_generate, 'test': cmd_test, 'deps': cmd_deps, 'sizes': cmd_sizes}[cmd](rest) or 0)
