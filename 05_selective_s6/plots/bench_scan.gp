load root.'/common/plot.gp'
set title 'Selective scan on the CPU: sequential vs parallel (Blelloch), batch 2, D 64, N 16'
set xlabel 'sequence length L'
set ylabel 'time (s, median)'
set logscale xy
set format x '2^{%L}'
plot outdir.'/bench_scan.dat' using 1:2 with linespoints title 'sequential (parallel over channels)', \
     '' using 1:3 with linespoints title 'Blelloch (parallel over time)'
