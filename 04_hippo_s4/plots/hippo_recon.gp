load root.'/common/plot.gp'
set title 'HiPPO memory: the whole history reconstructed from N = 64 coefficients'
set xlabel 'time t (signal on [0, 1])'
set ylabel 'f(t)'
set datafile missing 'nan'
set key bottom left
f = outdir.'/hippo_recon.dat'
plot f u 1:2 w l lc rgb '#000000' lw 3 t 'signal f', \
     f u 1:3 w l ls 1 t 'LegS at t = 0.25', \
     f u 1:4 w l ls 3 t 'LegS at t = 0.5', \
     f u 1:5 w l ls 2 dt 2 t 'LegS at t = 1', \
     f u 1:6 w l ls 4 t 'LegT (window 0.25) at t = 1'
