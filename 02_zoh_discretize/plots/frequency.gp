# frequency: |H| of the continuous system and of each discretization up to Nyquist
load root.'/common/plot.gp'
set title 'Frequency response, spring (c = 0.4), {/Symbol D} = 0.5 s, up to Nyquist {/Symbol p}/{/Symbol D}'
set xlabel 'angular frequency {/Symbol w} (rad/s)'
set ylabel '|H| (dB)'
set yrange [-60:15]
set key bottom left
plot outdir.'/frequency.dat' using 1:(20*log10($2)) with lines lw 3 lc rgb 'black' title 'continuous H(i{/Symbol w})', \
     '' using 1:(20*log10($3)) with lines title 'ZOH', \
     '' using 1:(20*log10($4)) with lines title 'bilinear', \
     '' every 15 using 1:(20*log10($7)) with points pt 6 ps 0.8 lc rgb '#2ca02c' title 'bilinear: warping formula', \
     '' using 1:(20*log10($5)) with lines title 'backward Euler', \
     '' using 1:(20*log10($6)) with lines dt 2 title 'Mamba pair'
