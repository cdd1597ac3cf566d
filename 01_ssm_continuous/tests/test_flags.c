/* 01_ssm_continuous/tests/test_flags.c — every numeric flag has a range (in --help) and
 * work is bounded: the requests that once ran out of memory (--tau 1e-300: 3.5 GB),
 * wrote gigabytes (--stiffness 1e12) or never finished (--damping 1e12, --atol 1e-300)
 * exit 2 at once with one line; a stiff system inside the ranges stops at RK45's step
 * cap with exit 2 instead of growing its path without bound. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/testutil.h"
#include "common/util.h"

START_TEST(test_flag_ranges)
{
    const char *bad[][2] = {
        {"--tau 1e-300", "--tau: expected a value in [0.001, 1000]"},
        {"--stiffness 1e12", "--stiffness: expected a value in"},
        {"--damping 1e12", "--damping: expected a value in"},
        {"--atol 1e-300", "--atol: expected a value in [1e-15, 1]"},
        {"--atol 0", "--atol"},
        {"--rtol 1e-300", "--rtol"},
        {"--dt 1e-9", "--dt"},
        {"--T 1e9", "--T"},
        {"--omega 1e300", "--omega"},
        {"--mass 1e-300", "--mass"},
        {"--width 1e-300", "--width"},
        {"--signal-dt 1e-300", "--signal-dt"},
        {"--amp 1e300", "--amp"},
        {"--N 100000", "--N"},
        {"--levels 40", "--levels"},
        {"--T 10000 --dt 0.001", "expected at most 2e6 steps"},
        {"--system spring --damping 1000 --mass 0.001", "needs more than 200000 steps"},
    };
    /* each must end by itself within the timeout (which would exit 124, not 2): the RK45
     * cap case takes ~1 s of CPU, the others exit before any work */
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "timeout 120 " PROG_PATH " %s --out /tmp/ode_to_mamba_flags_out", bad[k][0]);
        ck_assert_exit2(cmd, bad[k][1]);
    }
    ck_assert_int_eq(system("rm -rf /tmp/ode_to_mamba_flags_out"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flags");
    TCase *tc = tcase_create("ranges");
    tcase_add_test(tc, test_flag_ranges);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
