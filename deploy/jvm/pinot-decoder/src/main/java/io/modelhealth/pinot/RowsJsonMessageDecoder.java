package io.modelhealth.pinot;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pinot.spi.data.readers.GenericRow;
import org.apache.pinot.spi.stream.StreamMessageDecoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes the JSON messages modelhealth's KafkaSink writes: {@code {"rows": [{...}, ...]}} (one
 * Pinot row per element) or a plain {@code {...}} (one row). It never throws.
 *
 * <p>Why not Pinot's own JSON decoder plus {@code complexTypeConfig.fieldsToUnnest}: in Pinot 0.11
 * the unnest step turns a message without the wrapper into a record that contains itself, and a
 * type error on such a record overflows the stack while being logged, which puts the consuming
 * segment in ERROR and stops the partition. Here a message that is not JSON, not an object, or
 * whose {@code rows} is not a list is dropped (Pinot skips a null row), and a row with a value
 * its column cannot hold is dropped alone, so the rest of its batch is still indexed.
 *
 * <p>Decoder properties ({@code stream.kafka.decoder.prop.<name>} in the table config):
 * <ul>
 *   <li>{@code columns}: {@code name:TYPE,...} from the table schema. Values are checked and
 *       converted per type; without it the fields Pinot asks for pass through unchecked.</li>
 *   <li>{@code rowsField}: the wrapper key (default {@code rows}); empty turns batching off.</li>
 *   <li>{@code required}: {@code name,...} of columns a row must carry, not null. A row without
 *       one is dropped: Pinot would store its default ({@code "null"}, 0, the epoch) and the
 *       row would count as data of a model named "null" at 1970, which the SDK never writes
 *       and DuckDB never holds.</li>
 * </ul>
 */
public class RowsJsonMessageDecoder implements StreamMessageDecoder<byte[]> {
  public static final String COLUMNS_PROP = "columns";
  public static final String ROWS_FIELD_PROP = "rowsField";
  public static final String REQUIRED_PROP = "required";
  public static final String DEFAULT_ROWS_FIELD = "rows";

  private static final Logger LOGGER = LoggerFactory.getLogger(RowsJsonMessageDecoder.class);
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final Map<String, ColumnType> _columns = new LinkedHashMap<>();
  private final Set<String> _required = new HashSet<>();
  private String _rowsField = DEFAULT_ROWS_FIELD;
  private String _topic = "?";
  private final DropLog _drops = new DropLog(LOGGER);
  private long _messages;

  @Override
  public void init(Map<String, String> props, Set<String> fieldsToRead, String topicName) {
    _topic = topicName;
    String spec = props == null ? null : props.get(COLUMNS_PROP);
    if (props != null && props.containsKey(ROWS_FIELD_PROP)) {
      _rowsField = props.get(ROWS_FIELD_PROP).trim();
    }
    if (spec != null && !spec.isBlank()) {
      for (String item : spec.split(",")) {
        int colon = item.lastIndexOf(':');
        if (colon <= 0 || colon == item.length() - 1) {
          throw new IllegalArgumentException("decoder prop '" + COLUMNS_PROP
              + "': expected name:TYPE items separated by commas, got '" + item.trim() + "'");
        }
        _columns.put(item.substring(0, colon).trim(), ColumnType.parse(item.substring(colon + 1)));
      }
    } else if (fieldsToRead != null) {
      LOGGER.warn("{}: decoder prop '{}' not set; values are passed to Pinot unchecked", topicName,
          COLUMNS_PROP);
      for (String field : fieldsToRead) {
        _columns.put(field, ColumnType.OTHER);
      }
    }
    if (_columns.isEmpty()) {
      throw new IllegalArgumentException("decoder prop '" + COLUMNS_PROP + "' is required");
    }
    String required = props == null ? null : props.get(REQUIRED_PROP);
    if (required != null && !required.isBlank()) {
      for (String name : required.split(",")) {
        String column = name.trim();
        if (!_columns.containsKey(column)) {
          throw new IllegalArgumentException("decoder prop '" + REQUIRED_PROP + "': '" + column
              + "' is not one of the columns " + _columns.keySet());
        }
        _required.add(column);
      }
    }
  }

  @Override
  public GenericRow decode(byte[] payload, GenericRow destination) {
    return decode(payload, 0, payload.length, destination);
  }

  @Override
  public GenericRow decode(byte[] payload, int offset, int length, GenericRow destination) {
    long message = ++_messages;
    try {
      JsonNode root;
      try {
        root = MAPPER.readTree(payload, offset, length);
      } catch (Exception notJson) {
        String why = DropLog.preview(firstLine(notJson.getMessage()));
        _drops.message(_topic, message, "not JSON (" + why + ")", payload, offset, length);
        return null;
      }
      if (root == null || !root.isObject()) {
        _drops.message(_topic, message, "not a JSON object", payload, offset, length);
        return null;
      }
      JsonNode rows = _rowsField.isEmpty() ? null : root.get(_rowsField);
      if (rows == null) {
        String problem = fill(root, destination);
        if (problem != null) {
          _drops.rows(_topic, message, 1, 1, problem);
          return null;
        }
        return destination;
      }
      if (!rows.isArray()) {
        _drops.message(_topic, message, "'" + _rowsField + "' is not a list", payload, offset,
            length);
        return null;
      }
      return decodeBatch(rows, destination, message);
    } catch (RuntimeException unexpected) {
      _drops.message(_topic, message, "decoder error " + DropLog.preview(unexpected.toString()),
          payload, offset, length);
      return null;
    }
  }

  private GenericRow decodeBatch(JsonNode rows, GenericRow destination, long message) {
    List<GenericRow> good = new ArrayList<>(rows.size());
    String firstProblem = null;
    int bad = 0;
    int index = 0;
    for (Iterator<JsonNode> it = rows.elements(); it.hasNext(); index++) {
      JsonNode element = it.next();
      GenericRow row = new GenericRow();
      String problem = element.isObject() ? fill(element, row) : "row is not a JSON object";
      if (problem == null) {
        good.add(row);
      } else {
        bad++;
        if (firstProblem == null) {
          firstProblem = "row " + index + ": " + problem;
        }
      }
    }
    if (bad > 0) {
      _drops.rows(_topic, message, bad, rows.size(), firstProblem);
    }
    if (good.isEmpty()) {
      return null;
    }
    if (good.size() == 1) {
      destination.init(good.get(0));
    } else {
      destination.putValue(GenericRow.MULTIPLE_RECORDS_KEY, good);
    }
    return destination;
  }

  /** Puts every configured column of {@code object} into {@code row}; returns why not, or null. */
  private String fill(JsonNode object, GenericRow row) {
    int present = 0;
    for (Map.Entry<String, ColumnType> column : _columns.entrySet()) {
      JsonNode node = object.get(column.getKey());
      Object value = null;
      if (node != null) {
        present++;
        value = column.getValue().coerce(node);
        if (value == ColumnType.INVALID) {
          return "column '" + column.getKey() + "' expects " + column.getValue() + ", got "
              + DropLog.preview(node.toString());
        }
      }
      if (value == null && _required.contains(column.getKey())) {
        return "required column '" + column.getKey() + "' is " + (node == null ? "missing" : "null");
      }
      row.putValue(column.getKey(), value);
    }
    return present == 0 ? "no known column" : null;
  }

  private static String firstLine(String text) {
    if (text == null) {
      return "no detail";
    }
    int newline = text.indexOf('\n');
    return newline < 0 ? text : text.substring(0, newline);
  }
}
