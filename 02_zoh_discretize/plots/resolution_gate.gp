# resolution_gate: what one mode a = -1 keeps (Abar) and takes (|a| Bbar) as dt grows
load root.'/common/plot.gp'
set title '{/Symbol D} as a gate: one mode a = -1, h_k = Ā h_{k-1} + B̄ x_k'
set xlabel 'step {/Symbol D} (s)'
set ylabel 'weight'
set y2label 'memory: steps until Ā^k < 1/e'
set logscale x
set logscale y2
set format x '10^{%L}'
set format y2 '10^{%L}'
set ytics nomirror
set y2tics
set key center left
plot outdir.'/resolution_gate.dat' using 1:2 with lines title 'Ā = e^{{/Symbol D}a}: state kept', \
     '' using 1:3 with lines title '|a|B̄ = 1 - e^{{/Symbol D}a}: input taken', \
     '' using 1:4 axes x1y2 with lines dt 2 title 'memory 1/({/Symbol D}|a|) (right axis)'
