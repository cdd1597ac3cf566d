load root.'/common/plot.gp'
set title 'Induction heads: trained at L = 256, tested at other lengths'
set xlabel 'test sequence length L (tokens)'
set ylabel 'accuracy (%)'
set logscale x 2
set format x '2^{%L}'
set yrange [0:105]
set key left center box opaque
set arrow from 256, graph 0 to 256, graph 1 nohead dt 3 lc rgb '#888888'
plot outdir.'/induction_extrapolation.dat' using 1:($2*100) with linespoints title 'S6 (Mamba)', \
     '' using 1:($3*100) with linespoints title 'LTI (S4D in the Mamba block)', \
     '' using 1:($4*100) with linespoints title 'S6 without the gate', \
     '' using 1:(100.0/14) with lines dt 2 title 'chance (1/14)'
