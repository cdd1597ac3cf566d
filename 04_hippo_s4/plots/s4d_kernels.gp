load root.'/common/plot.gp'
set title 'S4D kernels of each initialization (N_h = 32 modes, B = 1, C = 1/32, Δ = 0.01, ZOH)'
set xlabel 'time jΔ'
set ylabel 'K_j'
set xrange [0:10.24]
set key top right
f = outdir.'/s4d_kernels.dat'
plot f u 1:2 w l ls 1 t 'S4D-LegS', f u 1:3 w l ls 2 t 'S4D-Lin', f u 1:4 w l ls 3 t 'S4D-Inv', \
     f u 1:5 w l ls 4 t 'S4D-Real', f u 1:6 w l ls 5 t 'random'
