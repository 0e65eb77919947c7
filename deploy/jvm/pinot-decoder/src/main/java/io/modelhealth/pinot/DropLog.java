package io.modelhealth.pinot;

import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;

/**
 * Counts what the decoder drops and logs it as one short line with running totals.
 *
 * <p>A topic full of bad messages must not flood the server log, so after the first 100 drops only
 * every power of two is logged; the totals in each line say how many were not. Nothing here calls
 * toString on a record: a line holds at most an 80-character preview of the payload.
 */
final class DropLog {
  private static final int ALWAYS_LOGGED = 100;
  private static final int PREVIEW_CHARS = 80;

  private final Logger _logger;
  private long _droppedMessages;
  private long _droppedRows;
  private long _events;

  DropLog(Logger logger) {
    _logger = logger;
  }

  void message(String topic, long message, String why, byte[] payload, int offset, int length) {
    _droppedMessages++;
    if (shouldLog()) {
      String text = new String(payload, offset, Math.min(length, PREVIEW_CHARS * 4),
          StandardCharsets.UTF_8);
      _logger.warn("{}: dropped message #{} ({} bytes): {}; payload {} [dropped so far: {} "
              + "messages, {} rows]", topic, message, length, why, preview(text), _droppedMessages,
          _droppedRows);
    }
  }

  void rows(String topic, long message, int bad, int total, String why) {
    _droppedRows += bad;
    if (total == bad) {
      _droppedMessages++;
    }
    if (shouldLog()) {
      _logger.warn("{}: dropped {} of {} rows in message #{}: {} [dropped so far: {} messages, "
          + "{} rows]", topic, bad, total, message, why, _droppedMessages, _droppedRows);
    }
  }

  private boolean shouldLog() {
    long n = ++_events;
    return n <= ALWAYS_LOGGED || (n & (n - 1)) == 0;
  }

  /** At most {@value #PREVIEW_CHARS} characters, control and non-ASCII characters escaped. */
  static String preview(String text) {
    StringBuilder out = new StringBuilder(Math.min(text.length(), PREVIEW_CHARS) + 8);
    for (int i = 0; i < text.length() && out.length() < PREVIEW_CHARS; i++) {
      char c = text.charAt(i);
      if (c >= 0x20 && c < 0x7f) {
        out.append(c);
      } else {
        out.append(String.format("\\u%04x", (int) c));
      }
    }
    if (out.length() >= PREVIEW_CHARS) {
      out.append("...");
    }
    return out.toString();
  }
}
