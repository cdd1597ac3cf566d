/* common/testutil.c — helpers for the Check test suites (see testutil.h). */
#include "common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/vectors.h"

static void allclose_report(const char *file, int line, const char *expr, size_t n, double rtol, double atol,
                            double (*got_at)(const void *, size_t), const void *got, const double *want) {
    size_t bad = 0, first = 0;
    double mabs = 0, mrel = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got_at(got, i), d = fabs(g - want[i]);
        double r = d / (fabs(want[i]) > 0 ? fabs(want[i]) : 1.0);
        if (isnan(d)) d = r = INFINITY;
        if (d > mabs) mabs = d;
        if (r > mrel) mrel = r;
        if (!(d <= atol + rtol * fabs(want[i])) && bad++ == 0) first = i;
    }
    if (bad)
        ck_assert_msg(0, "%s:%d: %s: %zu of %zu elements off; first at [%zu]: got %.17g, want %.17g; max abs err %.3e, max rel err %.3e (rtol %.1e, atol %.1e)",
                      file, line, expr, bad, n, first, got_at(got, first), want[first], mabs, mrel, rtol, atol);
}

static double at_f64(const void *p, size_t i) { return ((const double *)p)[i]; }
static double at_f32(const void *p, size_t i) { return ((const float *)p)[i]; }

void th_allclose(const char *file, int line, const char *expr, const double *got, const double *want, size_t n,
                 double rtol, double atol) {
    allclose_report(file, line, expr, n, rtol, atol, at_f64, got, want);
}

void th_allclose_f32(const char *file, int line, const char *expr, const float *got, const double *want, size_t n,
                     double rtol, double atol) {
    allclose_report(file, line, expr, n, rtol, atol, at_f32, got, want);
}

int th_run(const char *cmd, char *err, size_t errlen) {
    char tmpl[] = "/tmp/th_stderr_XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    close(fd);
    char full[8192];
    snprintf(full, sizeof full, "( %s ) >/dev/null 2>'%s' </dev/null", cmd, tmpl);
    int st = system(full);
    if (err && errlen) {
        err[0] = 0;
        FILE *f = fopen(tmpl, "r");
        if (f) {
            size_t n = fread(err, 1, errlen - 1, f);
            err[n] = 0;
            fclose(f);
        }
    }
    remove(tmpl);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

int th_run_child(void (*fn)(void *), void *arg, char *err, size_t errlen) {
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < errlen && (r = read(fd[0], err + got, errlen - 1 - got)) > 0) got += (size_t)r;
    if (errlen) err[got] = 0;
    close(fd[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void th_assert_exit2(const char *file, int line, const char *cmd, const char *text) {
    char err[4096], full[8192];
    /* die() exits with the inputs it had loaded still allocated; under the sanitizers
     * LeakSanitizer would report them and turn exit 2 into another code. Leaks on the
     * way out of a bad-input exit are not the subject here, so leak checks are off. */
    snprintf(full, sizeof full, "export ASAN_OPTIONS=detect_leaks=0; %s", cmd);
    int rc = th_run(full, err, sizeof err);
    size_t lines = 0;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    ck_assert_msg(rc == 2, "%s:%d: `%s` exited %d, want 2 (stderr: %s)", file, line, cmd, rc, err);
    ck_assert_msg(lines == 1, "%s:%d: `%s` printed %zu lines on stderr, want exactly 1: %s", file, line, cmd, lines, err);
    ck_assert_msg(strstr(err, text) != NULL, "%s:%d: `%s`: stderr does not mention '%s': %s", file, line, cmd, text, err);
}

void th_poison_f64(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = NAN; }
void th_poison_f32(float *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = NAN; }

/* Every directory th_tmpdir made is removed when the process that made it exits, also
 * when it exits through die() (the exit-2 tests) or a failed assertion, which skip the
 * tests' own clean-up. A forked child inherits the list but removes only its own. */
#define TH_MAX_TMPDIRS 64
static struct {
    char path[64];
    pid_t owner;
} g_tmpdirs[TH_MAX_TMPDIRS];
static int g_ntmpdirs;

static void rm_rf(const char *dir);

static void tmpdirs_remove(void) {
    const pid_t me = getpid();
    for (int i = 0; i < g_ntmpdirs; i++)
        if (g_tmpdirs[i].owner == me) rm_rf(g_tmpdirs[i].path);
}

void th_tmpdir(char *buf, size_t len) {
    snprintf(buf, len, "/tmp/ode_to_mamba_test_XXXXXX");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp failed");
    if (g_ntmpdirs == 0) atexit(tmpdirs_remove);
    if (g_ntmpdirs < TH_MAX_TMPDIRS && strlen(buf) < sizeof g_tmpdirs[0].path) {
        snprintf(g_tmpdirs[g_ntmpdirs].path, sizeof g_tmpdirs[0].path, "%s", buf);
        g_tmpdirs[g_ntmpdirs++].owner = getpid();
    }
}

void th_assert_grades(const char *file, int line, const char *prog, const char *writer) {
    char dir[64], cmd[8192], err[4096];
    int rc = th_run(TH_PYTHON " -c 'import numpy'", err, sizeof err);
    ck_assert_msg(rc == 0, "%s:%d: %s with NumPy is missing (Debian python3-numpy; common/setup.sh installs it)",
                  file, line, TH_PYTHON);
    for (int garbage = 0; garbage <= 1; garbage++) {
        th_tmpdir(dir, sizeof dir);
        snprintf(cmd, sizeof cmd, "%s %s%s", writer, dir, garbage ? " --garbage" : "");
        rc = th_run(cmd, err, sizeof err);
        ck_assert_msg(rc == 0, "%s:%d: the writer failed (exit %d): %s: %s", file, line, rc, cmd, err);
        snprintf(cmd, sizeof cmd, "%s --check %s", prog, dir);
        rc = th_run(cmd, err, sizeof err);
        ck_assert_msg(rc == garbage, "%s:%d: %s: exit %d, expected %d (%s): %s", file, line, cmd, rc, garbage,
                      garbage ? "wrong outputs under a loosened manifest must fail" : "an independent set must pass",
                      err);
    }
}

int th_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int th_skip_gpu_suite(const char *label, int required, const char *why)
{
    printf("%s: %s: %s\n", label, required ? "FAILED" : "SKIPPED", why);
    return required ? EXIT_FAILURE : EXIT_SUCCESS;
}

int th_run_gpu_suite(const char *label, int required, th_gpu_probe_fn available,
                     th_gpu_name_fn name, Suite *(*make)(void))
{
    char why[256], gpu[256];
    if (!available(why, sizeof why)) {
        char line[300];
        snprintf(line, sizeof line, "no usable GPU (%s)", why);
        return th_skip_gpu_suite(label, required, line);
    }
    name(gpu, sizeof gpu);
    printf("%s on %s\n", label, gpu);
    fflush(stdout);
    SRunner *sr = srunner_create(make());
    srunner_set_fork_status(sr, CK_NOFORK);   /* a CUDA context does not survive fork() */
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the standard golden-vector tests of a stage ---- */

static const char *g_prog, *g_stage, *g_root;

static void rm_rf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

START_TEST(vectors_regenerate_match) {
    char tmp[256], cmd[8192], committed[4096];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(committed, sizeof committed, "%s/vectors/%s", g_root, g_stage);
    snprintf(cmd, sizeof cmd, "'%s' --dump-vectors '%s/v'", g_prog, tmp);
    char err[4096];
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--dump-vectors exited %d: %s", rc, err);
    int bad = vec_compare_dirs(committed, strcat(tmp, "/v"));
    tmp[strlen(tmp) - 2] = 0;
    rm_rf(tmp);
    ck_assert_msg(bad == 0, "%d tensors in vectors/%s no longer match a fresh --dump-vectors (run make vectors if the change is intended)", bad, g_stage);
}
END_TEST

START_TEST(vectors_check_passes) {
    char cmd[8192], err[4096];
    snprintf(cmd, sizeof cmd, "'%s' --check '%s/vectors/%s'", g_prog, g_root, g_stage);
    int rc = th_run(cmd, err, sizeof err);
    ck_assert_msg(rc == 0, "--check on the committed vectors exited %d: %s", rc, err);
}
END_TEST

START_TEST(vectors_check_fails_on_tampering) {
    char tmp[256], cmd[8192], err[4096];
    th_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s/vectors/%s/.' '%s/'", g_root, g_stage, tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(vec_tamper(tmp) == 0, "no output tensor to tamper with");
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", g_prog, tmp);
    int rc = th_run(cmd, err, sizeof err);
    rm_rf(tmp);
    ck_assert_msg(rc == 1, "--check on a tampered set exited %d, want 1: %s", rc, err);
}
END_TEST

START_TEST(vectors_check_malformed_exit2) {
    char tmp[256], cmd[8192], path[4200];
    th_tmpdir(tmp, sizeof tmp);
    /* 1. no manifest at all */
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", g_prog, tmp);
    ck_assert_exit2(cmd, "manifest.json");
    /* 2. a manifest that is not JSON */
    snprintf(path, sizeof path, "%s/manifest.json", tmp);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"stage\": \"x\", \"tensors\": [ {\"name\": ", f);
    fclose(f);
    ck_assert_exit2(cmd, "malformed");
    /* 3. the committed set with one .npy truncated */
    rm_rf(tmp);
    th_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s/vectors/%s/.' '%s/' && for f in '%s'/*.npy; do head -c 70 \"$f\" > \"$f.t\" && mv \"$f.t\" \"$f\"; done",
             g_root, g_stage, tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check '%s'", g_prog, tmp);
    ck_assert_exit2(cmd, ".npy");   /* one line naming the file (npy.c says what is cut short) */
    rm_rf(tmp);
}
END_TEST

TCase *th_vectors_tcase_impl(const char *prog, const char *stage, const char *root) {
    g_prog = prog;
    g_stage = stage;
    g_root = root;
    TCase *tc = tcase_create("golden_vectors");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, vectors_regenerate_match);
    tcase_add_test(tc, vectors_check_passes);
    tcase_add_test(tc, vectors_check_fails_on_tampering);
    tcase_add_test(tc, vectors_check_malformed_exit2);
    return tc;
}

/* Central differences, element by element (see testutil.h). */
double gradcheck(gradcheck_loss_fn loss, void *ctx, real *param, const real *analytic, size_t n, double h,
                 size_t max_checks, double floor) {
    size_t stride = (max_checks && n > max_checks) ? n / max_checks : 1;
    double worst = 0;
    for (size_t i = 0; i < n; i += stride) {
        real saved = param[i];
        param[i] = saved + (real)h;
        double lp = loss(ctx);
        param[i] = saved - (real)h;
        double lm = loss(ctx);
        param[i] = saved;
        double num = (lp - lm) / (2 * h), ana = analytic[i];
        double den = fabs(num) + fabs(ana);
        double err = fabs(num - ana) / (den > floor ? den : floor);
        if (err > worst || isnan(err)) worst = err;
    }
    return worst;
}
