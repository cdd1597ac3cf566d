# common/plot.gp — loaded first by every stage's plot script (plot_run sets
# outdir, ext, root, name). One look for every plot in the book.
if (ext eq 'svg') {
    set terminal svg size 900,600 dynamic enhanced font 'Sans,12' background rgb 'white'
} else {
    set terminal pngcairo size 900,600 enhanced font 'Sans,11'
}
set output outdir.'/'.name.'.'.ext
set grid lc rgb '#dddddd'
set key box opaque
set style line 1 lc rgb '#1f77b4' lw 2
set style line 2 lc rgb '#d62728' lw 2
set style line 3 lc rgb '#2ca02c' lw 2
set style line 4 lc rgb '#9467bd' lw 2
set style line 5 lc rgb '#ff7f0e' lw 2
set style line 6 lc rgb '#8c564b' lw 2
set style line 7 lc rgb '#e377c2' lw 2
set style line 8 lc rgb '#7f7f7f' lw 2
set style increment user
