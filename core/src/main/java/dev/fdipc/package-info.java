/**
 * fdipc's public API: {@link dev.fdipc.FdipcServer} and {@link dev.fdipc.FdipcClient} open
 * {@link dev.fdipc.IpcChannel}s over kernel objects negotiated per client; the
 * {@link dev.fdipc.TransportRegistry} lists the transports found on the classpath.
 */
package dev.fdipc;
