/** The {@code client} command. It sees transports only through the registry. */
package dev.fdipc.client;
