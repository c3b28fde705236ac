/**
 * Implementation details: the control protocol codec and connection, server sessions, socket
 * binding, libc bindings. Not an API; anything here may change in any release.
 */
package dev.fdipc.internal;
