# mamba_gap: relative gap between Mamba's dt B and the exact ZOH Bbar versus dt |A|
load root.'/common/plot.gp'
set title "Mamba's {/Symbol D}B against the exact ZOH B̄: relative gap"
set xlabel '{/Symbol D}|A|'
set ylabel '|{/Symbol D}B - B̄| / |B̄|'
set logscale xy
set format x '10^{%L}'
set format y '10^{%L}'
set key top left
set object 1 rect from 1e-3, graph 0 to 1e-1, graph 1 fc rgb '#ffe8cc' fs solid 0.5 noborder behind
set label 1 "Mamba's {/Symbol D} init, |A| = 1" at 1.3e-3, graph 0.05
plot outdir.'/mamba_gap.dat' using 1:2 with lines title 'diagonal, a = -1', \
     '' using 1:3 with lines title 'diagonal, a = -0.5 + 4{/Symbol p}i', \
     '' using 1:4 with lines title 'dense random stable N = 8 (|A| = spectral radius)', \
     '' using 1:5 with lines dt 2 lc rgb 'black' title 'leading term {/Symbol D}|A|/2'
