package dev.fdipc.testproviders;

/** Listed in a services file but does not implement TransportProvider. */
public class NotAProvider {
}
