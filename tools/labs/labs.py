#!/usr/bin/env python3
"""tools/labs/labs.py — the course labs, generated from the reference code.

  python3 tools/labs/labs.py generate [STAGE...]   make labs: labs/NN_name/ for each stage
  python3 tools/labs/labs.py test [STAGE...]       make test-labs: the autograder can tell
  python3 tools/labs/labs.py deps STAGE            which tests each region's stub breaks

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
from labs_def import LABS  # noqa: E402

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
    return f"""# Lab {lab['id']} — {lab['title']}

**Chapter:** §{lab['section']} of `chapter.md` (equations {lab['eqs']}).
**Where:** `{lab['file']}`, function `{lab['function']}`, between the markers
`/* LAB {lab['id']} BEGIN ... */` and `/* LAB END */`. The code there now compiles and returns a
wrong answer on purpose; replace it.
**Time:** about {lab['minutes']} minutes.
{req}
## Task

{lab['task']}

## How to test

    make grade                      # from this folder: every lab's score and the total
    make -C {stage} test            # the stage's whole Check suite, with its messages

Lab {lab['id']} is graded by the stage's Check tests {tests}; it passes when all of them pass.
The total also runs `{stage}/build/{prog} --check vectors/{stage}`: the golden vectors, which
pass once every lab of the stage is done.
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
             '| lab | title | section | minutes | graded tests |', '|---|---|---|---|---|']
    for lab in labs:
        if lab.get('tests'):
            lines.append(f"| {lab['id']} | {lab['title']} | §{lab['section']} | {lab['minutes']} | "
                         f"{len(lab['tests'])} |")
    write_if_changed(os.path.join(dest, 'README.md'), '\n'.join(lines) + '\n')


def grade_json(dest, binaries=None, golden=True):
    r = subprocess.run([sys.executable, 'grade.py', '--json'] +
                       (['--only', ','.join(binaries)] if binaries is not None else []) +
                       ([] if golden else ['--no-golden']),
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


def needed_binaries(dest, stage):
    """Test binaries that hold at least one graded test (from a reference run's listing)."""
    meta = json.load(open(os.path.join(dest, 'labs.json')))
    return meta['tests']


def test_stage(stage, tmp):
    labs = [l for l in labs_of(stage) if l.get('tests')]
    if not labs:
        print(f'test-labs: {stage}: no graded labs')
        return 0, 0
    if any(l.get('gpu') for l in labs):
        if subprocess.run('command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1',
                          shell=True).returncode != 0:
            print(f'test-labs: {stage}: SKIPPED (its labs are CUDA kernels: needs an NVIDIA GPU)')
            return 0, 0
    dest = os.path.join(tmp, stage)
    ok = bad = 0

    def expect(cond, what):
        nonlocal ok, bad
        if cond:
            ok += 1
        else:
            bad += 1
            print(f'FAIL {stage}: {what}')

    ids = [l['id'] for l in labs]
    # the binaries that hold graded tests: found in the reference run
    generate(stage, dest, keep=set(ids))
    ref = grade_json(dest)
    where = ref.get('where', {})
    bins = sorted({where[t] for l in labs for t in l['tests'] if t in where})
    for l in labs:
        missing = [t for t in l['tests'] if t not in ref['tests']]
        expect(not missing, f"lab {l['id']}: graded tests not in the stage's suites: {missing}")
        expect(lab_passes(ref, l), f"lab {l['id']}: fails with the reference code: "
               f"{[t for t in l['tests'] if ref['tests'].get(t) != 'P']}")
    expect(ref['golden'] in ('P', None), f"--check on the golden vectors fails with the reference code")
    print(f"test-labs: {stage}: reference: {sum(lab_passes(ref, l) for l in labs)}/{len(labs)} labs pass, "
          f"golden vectors {ref['golden']}")
    generate(stage, dest, keep=set())
    sk = grade_json(dest, bins)
    expect(sk.get('built'), 'the skeleton does not compile')
    for l in labs:
        expect(lab_all_fail(sk, l), f"lab {l['id']}: on the skeleton these graded tests pass: "
               f"{[t for t in l['tests'] if sk['tests'].get(t) == 'P']}")
    sk_golden = grade_json(dest, [])['golden']
    expect(sk_golden in ('F', None), '--check on the golden vectors passes on the skeleton')
    print(f"test-labs: {stage}: skeleton: {sum(lab_all_fail(sk, l) for l in labs)}/{len(labs)} labs "
          f"have every graded test failing, golden vectors {sk_golden}")
    for l in labs:
        keep = {l['id']} | set(l.get('requires') or [])
        generate(stage, dest, keep=keep)
        res = grade_json(dest, bins, golden=False)
        passing = [m['id'] for m in labs if lab_passes(res, m)]
        expect(sorted(passing) == sorted(keep & set(ids)),
               f"with lab {l['id']}" + (f" (and {', '.join(l['requires'])})" if l.get('requires') else '') +
               f" swapped in, the labs that pass are {passing}")
        print(f"test-labs: {stage}: lab {l['id']} swapped in" +
              (f" with {', '.join(l['requires'])}" if l.get('requires') else '') +
              f": passing labs {passing}")
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
    tmp = tempfile.mkdtemp(prefix='test-labs.')
    ok = bad = 0
    try:
        for stage in args or stages():
            o, b = test_stage(stage, tmp)
            ok += o
            bad += b
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'test-labs: {ok} passed, {bad} failed')
    return 1 if bad else 0


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
    if len(sys.argv) < 2 or sys.argv[1] not in ('generate', 'test', 'deps'):
        print(__doc__)
        sys.exit(2)
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({'generate': cmd_generate, 'test': cmd_test, 'deps': cmd_deps}[cmd](rest) or 0)
