load root.'/common/plot.gp'
set title 'FFT convolution without zero padding: the tail of x wraps onto the start of y'
set xlabel 'time step k'
set ylabel 'output y_k'
f = outdir.'/padding.dat'
plot f u 1:2 w l ls 1 t 'direct (causal, correct)', \
     f u 1:3 w l ls 2 t 'FFT with n = L (circular)'
