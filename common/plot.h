/* common/plot.h — data files and the gnuplot driver.
 *
 * A plot is a data file (whitespace-separated columns, a '#' header line) plus a
 * gnuplot script in the stage's plots/ folder. plot_run() runs the script twice,
 * for PNG (pngcairo) and SVG, with these gnuplot variables set:
 *     outdir  the output directory          ext   "png" or "svg"
 *     root    the repository root           (scripts `load root.'/common/plot.gp'`
 *                                            first: it sets the terminal and output)
 *     name    the plot's base name
 * The script then reads its data from outdir.'/<file>.dat'. */
#ifndef COMMON_PLOT_H
#define COMMON_PLOT_H

#include <stddef.h>

/* Columns of equal length; header is the column names, space-separated. */
void dat_write(const char *path, const char *header, size_t nrows, int ncols,
               const double *const *cols);
/* Several blocks separated by two blank lines (gnuplot's `index`). */
void dat_write_blocks(const char *path, const char *header, int nblocks,
                      const size_t *nrows, int ncols, const double *const *const *cols);

/* Run STAGE_DIR/plots/<name>.gp; writes outdir/<name>.png and .svg.
 * Returns 0, or -1 (with one line on stderr) if gnuplot is missing or fails. */
int plot_run(const char *stage_dir, const char *name, const char *outdir);

#endif
