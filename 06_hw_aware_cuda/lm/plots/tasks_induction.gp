# tasks_induction: induction heads on the GPU model (§6.23), trained at L = 256, accuracy at the
# last position against the test length 2^6 … 2^20, one line per variant: the paper's protocol
# (solid, induction_eval.tsv) and stage 05's curriculum (dashed, curriculum_eval.tsv); data: the
# eval TSVs of lm --task (task, variant, steps, L, accuracy, sequences)
load root.'/common/plot.gp'
f = data.'/induction_eval.tsv'
g = data.'/curriculum_eval.tsv'
set logscale x 2
set format x '2^{%L}'
set xrange [48:1500000]
set yrange [0:105]
set xlabel 'test sequence length L (trained at 256)'
set ylabel 'accuracy at the last position (%)'
set arrow from 256, graph 0 to 256, graph 1 nohead dt 2 lc rgb '#999999'
set key center left
set title "Induction heads, 2 layers, D 64, vocabulary 16 (one H200)\nsolid: the paper's protocol; dashed: stage 05's curriculum"
plot "< awk -F'\t' '$2==\"s6\"' ".f using 4:($5*100) with linespoints ls 1 title 'S6 (Mamba)', \
     "< awk -F'\t' '$2==\"lti\"' ".f using 4:($5*100) with linespoints ls 2 title 'LTI (S4D-Real in the block)', \
     "< awk -F'\t' '$2==\"nogate\"' ".f using 4:($5*100) with linespoints ls 3 title 'S6, no gate', \
     "< awk -F'\t' '$2==\"s6\"' ".g using 4:($5*100) with linespoints ls 1 dt 2 title 'S6, curriculum', \
     "< awk -F'\t' '$2==\"lti\"' ".g using 4:($5*100) with linespoints ls 2 dt 2 title 'LTI, curriculum', \
     "< awk -F'\t' '$2==\"nogate\"' ".g using 4:($5*100) with linespoints ls 3 dt 2 title 'no gate, curriculum', \
     100.0/14 with lines dt 2 lc rgb '#999999' title 'chance (1/14)'
