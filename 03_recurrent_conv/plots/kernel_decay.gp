load root.'/common/plot.gp'
set title 'Powers of A-bar: |K_k| decays for spectral radius < 1, grows for > 1'
set xlabel 'kernel index k'
set ylabel '|K_k|'
set logscale y
set format y '10^{%L}'
set key bottom left
f = outdir.'/kernel_decay.dat'
plot f u 1:2 w l ls 1 t 'diagonal, {/Symbol r} = 0.95', \
     f u 1:3 w l ls 3 t 'diagonal, {/Symbol r} = 0.99', \
     f u 1:4 w l ls 8 t 'diagonal, {/Symbol r} = 1', \
     f u 1:5 w l ls 5 t 'diagonal, {/Symbol r} = 1.001', \
     f u 1:6 w l ls 2 t 'diagonal, {/Symbol r} = 1.01', \
     f u 1:7 w l ls 4 t 'dense random stable (ZOH)'
