/* 07_ssd_mamba2/main.c — the lesson program of chapters/07_ssd_mamba2.md (in progress). */
#include <stdio.h>
#include "07_ssd_mamba2/ssd.h"
int main(void) { return 0; }
