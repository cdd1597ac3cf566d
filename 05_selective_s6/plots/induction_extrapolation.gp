load root.'/common/plot.gp'
# variants.dat (main.c): which variants this run trained; an untrained one has no curve and
# no key entry (an empty title leaves it out of the key)
stats outdir.'/variants.dat' using 1 nooutput
u1 = STATS_max
stats outdir.'/variants.dat' using 2 nooutput
u2 = STATS_max
stats outdir.'/variants.dat' using 3 nooutput
u3 = STATS_max
set title 'Induction heads: trained at L = 256, tested at other lengths'
set xlabel 'test sequence length L (tokens)'
set ylabel 'accuracy (%)'
set logscale x 2
set format x '2^{%L}'
set yrange [0:105]
set key left center box opaque
set arrow from 256, graph 0 to 256, graph 1 nohead dt 3 lc rgb '#888888'
plot outdir.'/induction_extrapolation.dat' using 1:($2*100) with linespoints title (u1 > 0.5 ? 'S6 (Mamba)' : ''), \
     '' using 1:($3*100) with linespoints title (u2 > 0.5 ? 'LTI (S4D in the Mamba block)' : ''), \
     '' using 1:($4*100) with linespoints title (u3 > 0.5 ? 'S6 without the gate' : ''), \
     '' using 1:(100.0/14) with lines dt 2 title 'chance (1/14)'
