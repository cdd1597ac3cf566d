/* 05_selective_s6/main.c — the lesson program of chapter 5 (work in progress: the scan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "05_selective_s6/s6.h"
#include "common/cli.h"
#include "common/util.h"

int main(int argc, char **argv)
{
    const char *out = "out";
    cli_opt opts[] = {{"out", CLI_STRING, &out, "output directory"}, {0}};
    cli_parse(argc, argv, "the selective scan (S6)", opts);
    return 0;
}
