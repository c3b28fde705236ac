/** The benchmark: every transport measured between two processes. */
package dev.fdipc.bench;
