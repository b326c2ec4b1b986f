set terminal pngcairo size 1100,640 font ",10"
set output "throughput.png"
set title "Replies/s at saturation (one server core)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "replies/s"
set yrange [0:*]
set key outside below horizontal
set grid ytics
plot "throughput.dat" using 2:xtic(1) title col, "" using 3 title col, "" using 4 title col, "" using 5 title col, "" using 6 title col, "" using 7 title col

set output "latency_cdf.png"
set title "Latency at 50% of the kernel path's saturation (IPv4)"
set style data lines
set logscale x
set xlabel "latency (µs)"
set ylabel "fraction of answers"
set yrange [0:1]
set key outside below vertical maxrows 5
plot "cdf-stock-hit4.dat" using 1:2 with lines lw 2 lc 1 dt 1 title "CoreDNS, kernel UDP, cache hits, IPv4", \
     "cdf-afxdp-off-hit4.dat" using 1:2 with lines lw 2 lc 2 dt 1 title "CoreDNS + afxdp, hot off, cache hits, IPv4", \
     "cdf-afxdp-hot-hit4.dat" using 1:2 with lines lw 2 lc 3 dt 1 title "CoreDNS + afxdp (hot answers), cache hits, IPv4", \
     "cdf-afxdp-xdp-hit4.dat" using 1:2 with lines lw 2 lc 4 dt 1 title "CoreDNS + afxdp (hot answers in XDP), cache hits, IPv4", \
     "cdf-knot-hit4.dat" using 1:2 with lines lw 2 lc 5 dt 1 title "Knot DNS XDP (patched: adjust_meta call removed), cache hits, IPv4", \
     "cdf-floor-hit4.dat" using 1:2 with lines lw 2 lc 6 dt 1 title "floor: XDP echo (XDP_TX), cache hits, IPv4"
