/* 08_xlstm/vectors08.h — golden vectors of stage 08 (--dump-vectors DIR, --check DIR). */
#ifndef VECTORS08_H
#define VECTORS08_H
/* dumping = 1: write the seeded set to dir; 0: check the set in dir. Returns the exit code. */
int xlstm_vectors(const char *dir, int dumping);
#endif
