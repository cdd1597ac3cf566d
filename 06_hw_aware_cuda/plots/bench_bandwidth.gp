# bench_bandwidth: achieved bandwidth (bytes of the floor model / time) against the measured copy ceiling
load root.'/common/plot.gp'
set datafile missing 'nan'
set title 'Achieved bandwidth of the fused kernels (floor-model bytes / time)'
set xlabel 'sequence length L'
set ylabel 'GB/s'
set logscale x 2
set format x '2^{%L}'
set yrange [0:*]
set key right center
d = outdir.'/bench_bandwidth.dat'
plot d using 1:2 with linespoints pt 9 title 'v3 forward fp32', \
     d using 1:3 with linespoints pt 11 title 'v4 forward fp32', \
     d using 1:4 with linespoints pt 13 title 'v4 forward bf16', \
     d using 1:5 with linespoints pt 7 title 'fused backward fp32', \
     d using 1:6 with linespoints pt 5 title 'fused backward bf16', \
     d using 1:8 with linespoints pt 15 title 'v5 forward fp32', \
     d using 1:9 with linespoints pt 3 title 'v5 forward bf16', \
     d using 1:10 with linespoints pt 1 lw 2 title 'v6 forward fp32', \
     d using 1:11 with linespoints pt 2 lw 2 title 'v6 forward bf16', \
     d using 1:7 with lines dt 2 lc rgb 'black' title 'device-to-device copy (measured)'
