# 06_hw_aware_cuda/scan/vs_official.gp — the ratio official / ours over the configuration matrix
# (vs_official.csv, written by vs_official.py), forward, backward and forward + backward, one
# panel per dtype; the line at 1 is parity (above: ours faster). Usage:
#   gnuplot -e "dir='06_hw_aware_cuda/results'" 06_hw_aware_cuda/scan/vs_official.gp
if (!exists("dir")) dir = "results"
set terminal pngcairo size 1400,900 font ",11"
set output dir."/vs_official.png"
set datafile separator ","
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "official time / our time (> 1: ours faster)"
set grid ytics
set key top right
set xtics rotate by -35 font ",9"
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set multiplot layout 2,1 title "stage 06 scan (v7 forward, v7 backward) vs the official mamba\\_ssm selective scan, same run"
# the rows alternate fp32, bf16 for each configuration (vs_official.py's order)
do for [k=0:1] {
  set title word("fp32 bf16", k + 1)
  plot dir."/vs_official.csv" skip 1 every 2::k using 14:xtic(sprintf("%s,%s,%s,%s", stringcolumn(1), stringcolumn(2), stringcolumn(3), stringcolumn(4))) title "forward", \
       '' skip 1 every 2::k using 15 title "backward", \
       '' skip 1 every 2::k using 16 title "forward + backward", \
       1 with lines lw 2 lc rgb "black" notitle
}
unset multiplot
