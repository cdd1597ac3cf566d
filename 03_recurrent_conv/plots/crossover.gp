load root.'/common/plot.gp'
set title 'Causal convolution: direct against FFT, where the FFT starts to win'
set xlabel 'sequence length L'
set ylabel 'time per call (s)'
set logscale xy
set format y '10^{%L}'
set key top left
f = outdir.'/crossover.dat'
plot f u 1:2 w lp ls 2 t 'direct, O(L^2)', \
     f u 1:3 w lp ls 5 t 'FFT (FFTW, padded to 2^{ceil(log2(2L-1))})'
