load root.'/common/plot.gp'
set title 'Kernel by repeated multiplication: error against a long double reference'
set xlabel 'kernel length L'
set ylabel 'max_{k<L} |K_k - K_{ref,k}| / max |K_{ref}|'
set logscale x 2
set logscale y
set format x '2^{%L}'
set format y '10^{%L}'
set key top left
f = outdir.'/kernel_precision.dat'
plot f u 1:3 w lp ls 2 t 'float32', \
     f u 1:2 w lp ls 1 t 'float64', \
     f u 1:(1.19e-7*$1) w l ls 2 dt 2 t 'L {/Symbol e}_{32}', \
     f u 1:(2.22e-16*$1) w l ls 1 dt 2 t 'L {/Symbol e}_{64}'
