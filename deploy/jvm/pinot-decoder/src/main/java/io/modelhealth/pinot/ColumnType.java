package io.modelhealth.pinot;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.util.Locale;

/**
 * A Pinot column's data type as the decoder checks it: {@link #coerce} turns one JSON value into
 * the Java value Pinot's DataTypeTransformer passes through unchanged, or {@link #INVALID}.
 *
 * <p>Why check here and not leave it to Pinot: in 0.11 a value Pinot cannot convert (a string in a
 * DOUBLE column) throws inside the transform pipeline, which discards the whole message (every row
 * of a batch) and logs the record. Checking in the decoder drops exactly the bad row.
 *
 * <p>The accepted spellings follow Pinot's own conversions (numbers as text, booleans as 0/1 in
 * integer columns) except that non-finite floats and fractional values for integer columns are
 * refused: Pinot would store NaN or truncate silently, and both corrupt aggregates.
 */
enum ColumnType {
  INT, LONG, FLOAT, DOUBLE, STRING, BOOLEAN,
  /** Any other Pinot type (TIMESTAMP, JSON, BYTES, ...): scalars pass through for Pinot. */
  OTHER;

  /** Returned by {@link #coerce} for a value this column cannot hold. */
  static final Object INVALID = new Object();

  static ColumnType parse(String pinotType) {
    switch (pinotType.trim().toUpperCase(Locale.ROOT)) {
      case "INT":
        return INT;
      case "LONG":
        return LONG;
      case "FLOAT":
        return FLOAT;
      case "DOUBLE":
        return DOUBLE;
      case "STRING":
        return STRING;
      case "BOOLEAN":
        return BOOLEAN;
      default:
        return OTHER;
    }
  }

  /** The value for {@code node} (null for JSON null), or {@link #INVALID}. */
  Object coerce(JsonNode node) {
    if (node.isNull()) {
      return null;
    }
    if (node.isContainerNode()) {
      return this == OTHER ? node.toString() : INVALID;
    }
    switch (this) {
      case INT:
      case LONG: {
        BigDecimal exact = integral(node);
        if (exact == null) {
          return INVALID;
        }
        try {
          return this == INT ? (Object) exact.intValueExact() : (Object) exact.longValueExact();
        } catch (ArithmeticException outOfRange) {
          return INVALID;
        }
      }
      case FLOAT:
      case DOUBLE: {
        double d = real(node);
        if (!Double.isFinite(d) || (this == FLOAT && !Float.isFinite((float) d))) {
          return INVALID;
        }
        return this == FLOAT ? (Object) (float) d : (Object) d;
      }
      case STRING:
        return node.asText();
      case BOOLEAN:
        return bool(node);
      default:
        return node.isNumber() ? node.numberValue() : node.isBoolean() ? node.booleanValue()
            : node.asText();
    }
  }

  /** An integral value (true/false as 1/0, "42", 42, 42.0), else null. */
  private static BigDecimal integral(JsonNode node) {
    BigDecimal value;
    if (node.isBoolean()) {
      return node.booleanValue() ? BigDecimal.ONE : BigDecimal.ZERO;
    } else if (node.isIntegralNumber()) {
      return node.decimalValue();
    } else if (node.isNumber()) {
      double d = node.doubleValue();
      if (!Double.isFinite(d)) {
        return null;
      }
      value = BigDecimal.valueOf(d);
    } else if (node.isTextual()) {
      try {
        value = new BigDecimal(node.textValue().trim());
      } catch (NumberFormatException notANumber) {
        return null;
      }
    } else {
      return null;
    }
    return value.stripTrailingZeros().scale() <= 0 ? value : null;
  }

  /** A double from a number or numeric text; NaN when there is none. */
  private static double real(JsonNode node) {
    if (node.isNumber()) {
      return node.doubleValue();
    }
    if (node.isTextual()) {
      try {
        return Double.parseDouble(node.textValue().trim());
      } catch (NumberFormatException notANumber) {
        return Double.NaN;
      }
    }
    return Double.NaN;
  }

  private static Object bool(JsonNode node) {
    if (node.isBoolean()) {
      return node.booleanValue();
    }
    if (node.isIntegralNumber()) {
      return node.longValue() != 0;
    }
    if (node.isTextual()) {
      String text = node.textValue().trim().toLowerCase(Locale.ROOT);
      if (text.equals("true") || text.equals("1")) {
        return true;
      }
      if (text.equals("false") || text.equals("0")) {
        return false;
      }
    }
    return INVALID;
  }
}
