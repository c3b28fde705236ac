/**
 * The benchmark behind {@code bin/bench}: every transport, and the junixsocket and Aeron baselines,
 * measured between two processes through the same runners ({@link dev.fdipc.bench.Runners}), with
 * a table, JSON and an SVG chart as output.
 */
package dev.fdipc.bench;
