load root.'/common/plot.gp'
set title 'The views agree: relative error against the dense recurrence (stage 02)'
set xlabel 'sequence length L'
set ylabel 'max |y - y_{ref}| / max |y_{ref}|'
set logscale xy
set logscale x 2
set format x '2^{%L}'
set format y '10^{%L}'
set xrange [*:*]
set key top left
f = outdir.'/agree.dat'
plot f u 1:2 w lp ls 1 t 'diagonal recurrence', \
     f u 1:3 w lp ls 2 t 'direct convolution', \
     f u 1:4 w lp ls 3 t 'FFT convolution', \
     f u 1:5 w lp ls 4 t 'kernel: dense vs Vandermonde', \
     f u 1:6 w lp ls 5 t 'dense system: direct', \
     f u 1:7 w lp ls 6 t 'dense system: FFT', \
     1e-10 w l ls 8 dt 2 t 'bound 10^{-10}'
