load root.'/common/plot.gp'
set title 'Causal convolution: direct against FFT, where the FFT starts to win'
set xlabel 'sequence length L'
set ylabel 'time per call (s)'
set logscale xy
set format y '10^{%L}'
set key top left
f = outdir.'/crossover.dat'
# The crossover as main.c defines it: the smallest grid L from which on the FFT is faster
# at every larger L. Found here from the data: the last L where it is not, then the next L.
last_lose = 0
stats f using 1 nooutput
Lmax = STATS_max
stats f using (($3 >= $2) ? (last_lose = $1) : 0) nooutput
if (last_lose < Lmax) {
    stats f using ($1 > last_lose ? $1 : 1/0) nooutput
    xc = STATS_min
    set arrow from xc, graph 0 to xc, graph 1 nohead dt 2 lc rgb '#333333' lw 1.5 front
    set label sprintf('crossover: FFT faster for every L ≥ %d', xc) at xc, graph 0.06 left offset 1, 0 front
} else {
    set label 'no crossover in the measured range' at graph 0.5, graph 0.06 center front
}
plot f u 1:2 w lp ls 2 pt 7 ps 0.6 t 'direct, O(L^2)', \
     f u 1:3 w lp ls 5 pt 5 ps 0.6 t 'FFT (FFTW, padded to 2^{ceil(log2(2L-1))})'
