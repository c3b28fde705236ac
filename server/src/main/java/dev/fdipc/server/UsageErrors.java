package dev.fdipc.server;

import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParameterException;

/**
 * A bad command line as one line in the user's terms (the argument as written on the command line,
 * what was expected), then where to read more, the way GNU tools say it: no Java types, no help
 * page. The same class is in the server command; neither depends on the other.
 */
final class UsageErrors implements CommandLine.IParameterExceptionHandler {
  static final int EXIT = 2;

  private final String command;
  private final Map<String, String> expected;

  /**
   * @param command the command's name, such as {@code client}
   * @param expected what a value must be, by option name or parameter label, such as
   *     {@code "ID" -> "an integer from 0 to 4294967295"}
   */
  UsageErrors(String command, Map<String, String> expected) {
    this.command = command;
    this.expected = expected;
  }

  @Override
  public int handleParseException(ParameterException ex, String[] args) {
    return print(ex.getCommandLine().getErr(), describe(ex));
  }

  /** Prints {@code message} the way every usage error is printed, and returns the exit status. */
  int print(PrintWriter err, String message) {
    err.println(command + ": " + message);
    err.println("Try '" + command + " --help' for more information.");
    err.flush();
    return EXIT;
  }

  /** {@code invalid NAME 'VALUE': expected WHAT}, for an option or parameter. */
  String invalid(String name, Object value) {
    return "invalid " + name + " '" + value + "': expected "
        + expected.getOrDefault(name, "a valid value");
  }

  private String describe(ParameterException ex) {
    ArgSpec arg = ex.getArgSpec();
    if (arg != null && ex.getValue() != null && ex.getCause() != null) { // a conversion failed
      return invalid(nameOf(arg), ex.getValue()).replace("a valid value", byType(arg));
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u) {
      String first = u.getUnmatched().isEmpty() ? "" : u.getUnmatched().get(0);
      return (first.startsWith("-") ? "unknown option '" : "unexpected argument '") + first + "'";
    }
    if (ex instanceof CommandLine.MissingParameterException && arg instanceof OptionSpec o) {
      return "option '" + o.longestName() + "' needs a value (" + o.paramLabel() + ")";
    }
    String m = String.valueOf(ex.getMessage());
    return m.isEmpty() ? m : Character.toLowerCase(m.charAt(0)) + m.substring(1);
  }

  private static String nameOf(ArgSpec arg) {
    if (arg instanceof OptionSpec o) {
      return o.longestName();
    }
    return ((PositionalParamSpec) arg).paramLabel();
  }

  private String byType(ArgSpec arg) {
    Class<?> t = arg.auxiliaryTypes().length > 0 ? arg.auxiliaryTypes()[0] : arg.type();
    if (t == long.class || t == Long.class || t == int.class || t == Integer.class) {
      return "an integer";
    }
    return "a valid value";
  }
}
