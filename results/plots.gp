set terminal png size 900,540 font ",10"
set output "throughput.png"
set title "Replies/s at saturation (one server core)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "replies/s"
set yrange [0:*]
set key top right
set grid ytics
plot "throughput.dat" using 2:xtic(1) title col, "" using 3 title col, "" using 4 title col, "" using 5 title col

set output "latency_cdf.png"
set title "Latency at 50% of the kernel path's saturation (IPv4)"
set style data lines
set logscale x
set xlabel "latency (µs)"
set ylabel "fraction of answers"
set yrange [0:1]
set key bottom right
plot "cdf-stock-hit4.dat" using 1:2 with lines lw 2 title "CoreDNS, kernel UDP, cache hits, IPv4", \
     "cdf-afxdp-hit4.dat" using 1:2 with lines lw 2 title "CoreDNS + afxdp, cache hits, IPv4", \
     "cdf-knot-hit4.dat" using 1:2 with lines lw 2 title "Knot DNS 3.2 XDP, cache hits, IPv4", \
     "cdf-reflector-hit4.dat" using 1:2 with lines lw 2 title "afxdp datapath alone, cache hits, IPv4", \
     "cdf-stock-miss4.dat" using 1:2 with lines lw 2 title "CoreDNS, kernel UDP, cache misses, IPv4", \
     "cdf-afxdp-miss4.dat" using 1:2 with lines lw 2 title "CoreDNS + afxdp, cache misses, IPv4"
