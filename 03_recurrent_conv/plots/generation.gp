load root.'/common/plot.gp'
set title 'Autoregressive generation: time per token against position'
set xlabel 'token position k'
set ylabel 'time per token (s)'
set logscale xy
set format y '10^{%L}'
set key top left
f = outdir.'/generation.dat'
plot f u 1:2 w lp ls 1 t 'recurrent view: O(N) per token', \
     f u 1:3 w lp ls 2 t 'convolutional view: O(k) per token'
