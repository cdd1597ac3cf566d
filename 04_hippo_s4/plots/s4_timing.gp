load root.'/common/plot.gp'
set multiplot layout 1,2 title 'Kernel time: naive (bilinear + powers of Ā, O(N^2 L)) against S4 (Cauchy + iFFT, O(N L))'
set logscale xy
set logscale x 2
set format y '10^{%L}'
set ylabel 'seconds (best of runs)'
set key top left
set xlabel 'L (N = 64)'
f = outdir.'/s4_timing_L.dat'
plot f u 1:2 w lp ls 1 t 'naive', f u 1:3 w lp ls 2 t 'S4'
set xlabel 'N (L = 4096)'
g = outdir.'/s4_timing_N.dat'
plot g u 1:2 w lp ls 1 t 'naive', g u 1:3 w lp ls 2 t 'S4'
unset multiplot
