/**
 * The conformance suite every transport runs: subclass
 * {@link dev.fdipc.testkit.TransportConformanceSuite} in your transport's tests.
 */
package dev.fdipc.testkit;
