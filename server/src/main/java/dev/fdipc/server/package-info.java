/** The {@code server} command. It sees transports only through the registry. */
package dev.fdipc.server;
