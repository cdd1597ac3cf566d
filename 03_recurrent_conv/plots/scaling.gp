load root.'/common/plot.gp'
set title 'Cost against sequence length (median time per call)'
set xlabel 'sequence length L'
set ylabel 'time per call (s)'
set logscale x 2
set logscale y
set format x '2^{%L}'
set format y '10^{%L}'
set key top left
f = outdir.'/scaling.dat'
plot f index 0 u 1:2 w lp ls 1 t 'recurrence, dense (stage 02)', \
     f index 1 u 1:2 w lp ls 3 t 'recurrence, diagonal', \
     f index 2 u 1:2 w lp ls 4 t 'kernel, Vandermonde', \
     f index 3 u 1:2 w lp ls 2 t 'convolution, direct O(L^2)', \
     f index 4 u 1:2 w lp ls 5 t 'convolution, FFT O(L log L)', \
     f index 5 u 1:2 w lp ls 6 t 'kernel + FFT convolution'
