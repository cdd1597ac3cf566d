/* common/real.h — the working precision of the trainable stages (04 onward).
 *
 * Stages 01–03 are numerics lessons and use double everywhere. From stage 04 on,
 * models compute in `real`: float by default (as real models run), double when a
 * build defines REAL_F64 (make REAL=double) — the gradient-check tests build that
 * way so finite differences have 16 digits to work with. Code written in `real`
 * includes <tgmath.h>, so exp(), log(), sqrt() pick the right precision. */
#ifndef COMMON_REAL_H
#define COMMON_REAL_H

#include "common/npy.h"

#ifdef REAL_F64
typedef double real;
#define REAL_DTYPE NPY_F64
#define REAL_NAME "float64"
#define REAL_EPS 2.220446049250313e-16
#else
typedef float real;
#define REAL_DTYPE NPY_F32
#define REAL_NAME "float32"
#define REAL_EPS 1.1920928955078125e-07
#endif

#endif
