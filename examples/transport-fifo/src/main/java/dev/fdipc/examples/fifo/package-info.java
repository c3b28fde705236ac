/**
 * An example third-party fdipc transport, {@code fifo}: named FIFOs in a private directory,
 * unlinked at once, passed to the client. Built outside the fdipc tree against the published
 * {@code fdipc-core}, tested with {@code fdipc-testkit}; see {@code docs/writing-a-transport.md}.
 */
package dev.fdipc.examples.fifo;
