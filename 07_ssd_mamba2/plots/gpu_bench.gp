# 07_ssd_mamba2/plots/gpu_bench.gp — the GPU benchmark (results/gpu/bench.csv via
# gpu/bench_ssd.py --plot-data): time against the state size N at L = 8192 and against the
# length L at N = 64, forward and forward + backward, bf16; 'ours' is the version and chunk
# the benchmark chose (its first lines and bench.md name them). Usage: gnuplot -e "dir='results/gpu'"
if (!exists("dir")) dir = 'results/gpu'
set terminal pngcairo size 1200,900 font ",10"
set output dir.'/gpu_bench.png'
set datafile missing 'nan'
set logscale y
set grid
set key top left
set ylabel 'ms (median)'
set multiplot layout 2,2 title 'Chunked SSD (ours, best version: bench.md) vs Triton SSD, Mamba-1 scans, SDPA — '.system('head -2 '.dir.'/bench.csv | tail -1 | cut -d\" -f2')
fN = dir.'/time_vs_N.dat'
fL = dir.'/time_vs_L.dat'
set logscale x 2
set xlabel 'state size N (L = 8192)'
set title 'forward'
plot fN u 1:2 w lp t 'SSD ours', fN u 1:4 w lp t 'Triton SSD', fN u 1:6 w lp t 'Mamba-1 ours v6', \
     fN u 1:8 w lp t 'Mamba-1 official', fN u 1:10 w lp dt 2 t 'SDPA flash (no N)'
set title 'forward + backward'
plot fN u 1:3 w lp t 'SSD ours', fN u 1:5 w lp t 'Triton SSD', fN u 1:7 w lp t 'Mamba-1 ours v6', \
     fN u 1:9 w lp t 'Mamba-1 official', fN u 1:11 w lp dt 2 t 'SDPA flash (no N)'
set xlabel 'length L (N = 64)'
set title 'forward'
plot fL u 1:2 w lp t 'SSD ours', fL u 1:4 w lp t 'Triton SSD', fL u 1:6 w lp t 'Mamba-1 ours v6', \
     fL u 1:8 w lp t 'Mamba-1 official', fL u 1:10 w lp dt 2 t 'SDPA flash'
set title 'forward + backward'
plot fL u 1:3 w lp t 'SSD ours', fL u 1:5 w lp t 'Triton SSD', fL u 1:7 w lp t 'Mamba-1 ours v6', \
     fL u 1:9 w lp t 'Mamba-1 official', fL u 1:11 w lp dt 2 t 'SDPA flash'
unset multiplot
