/* 05_selective_s6/vectors05.h — the stage's golden vectors (see vectors05.c). */
#ifndef VECTORS05_H
#define VECTORS05_H
void vectors_dump(const char *dir);
int vectors_check(const char *dir);   /* exit code: 0 all pass, 1 a mismatch */
#endif
