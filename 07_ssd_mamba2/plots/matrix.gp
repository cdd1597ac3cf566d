# matrix: log10 |M_ts| of one head's semiseparable matrix (7.4): lower triangular,
# fading away from the diagonal as the decays e^{a_k} multiply up
load root.'/common/plot.gp'
set title 'The SSD matrix M = L ∘ (C B^T) diag({/Symbol D}) of one head (L = 48, N = 4)'
set xlabel 'input position s'
set ylabel 'output position t'
set cblabel 'log_{10} |M_{ts}|'
set yrange [47.5:-0.5]
set xrange [-0.5:47.5]
set size ratio -1
set palette defined (0 '#ffffff', 1 '#9ecae1', 2 '#3182bd', 3 '#08306b')
set cbrange [-6:*]
unset key
plot outdir.'/matrix.dat' using 2:1:3 with image title 'log_{10}|M|'
