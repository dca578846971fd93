using System.Globalization;
using ModelBuild.Onnx;

namespace ModelBuild.Data;

/// <summary>What a .npy header declares, validated: element type, byte order, shape and sizes.</summary>
/// <param name="Descr">The dtype string as written, e.g. <c>&lt;f4</c>.</param>
/// <param name="PreambleBytes">Magic, version, length field and header dict: where the data starts.</param>
/// <param name="DataBytes">Element count times element size.</param>
public sealed record NpyHeader(
    string Descr,
    TensorElementType ElementType,
    bool BigEndian,
    long[] Shape,
    int PreambleBytes,
    long DataBytes)
{
    public long ElementCount => NdArray.ElementCount(Shape);
    public long TotalBytes => PreambleBytes + DataBytes;

    /// <summary>Maps a dtype string to an element type, its byte order and size; null when unsupported.</summary>
    internal static (TensorElementType Type, bool BigEndian, int Size)? ParseDescr(string descr)
    {
        if (descr.Length != 3) return null;
        var order = descr[0];
        var kind = descr.Substring(1);
        (TensorElementType type, int size)? t = kind switch
        {
            "f4" => (TensorElementType.Float32, 4),
            "f2" => (TensorElementType.Float16, 2),
            "f8" => (TensorElementType.Float64, 8),
            "i8" => (TensorElementType.Int64, 8),
            "i4" => (TensorElementType.Int32, 4),
            "u1" => (TensorElementType.UInt8, 1),
            "b1" => (TensorElementType.Bool, 1),
            "i1" => (TensorElementType.Int8, 1),
            _ => null,
        };
        if (t is not { } known) return null;
        // NumPy writes '|' (not applicable) for one-byte types; '<'/'>' for the rest.
        return order switch
        {
            '<' => (known.type, false, known.size),
            '>' => (known.type, true, known.size),
            '|' when known.size == 1 => (known.type, false, known.size),
            _ => null,
        };
    }

    internal static string DescrOf(TensorElementType type) => type switch
    {
        TensorElementType.Float32 => "<f4",
        TensorElementType.Float16 => "<f2",
        TensorElementType.Float64 => "<f8",
        TensorElementType.Int64 => "<i8",
        TensorElementType.Int32 => "<i4",
        TensorElementType.UInt8 => "|u1",
        TensorElementType.Bool => "|b1",
        TensorElementType.Int8 => "|i1",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}

/// <summary>Thrown by <see cref="NpyHeaderDict"/> for a header it cannot accept; the reader turns it into MB2010.</summary>
internal sealed class NpyFormatException(string message) : Exception(message);

/// <summary>
/// The header is a Python dict literal. This parses only the subset NumPy writes
/// (string keys; string, bool, int-tuple values) by hand, so nothing is ever evaluated.
/// </summary>
internal static class NpyHeaderDict
{
    public static (string Descr, bool FortranOrder, long[] Shape) Parse(string text)
    {
        var p = new Cursor(text);
        p.SkipWs();
        p.Expect('{');
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        p.SkipWs();
        while (!p.TryConsume('}'))
        {
            var key = p.ReadString();
            p.SkipWs();
            p.Expect(':');
            p.SkipWs();
            var value = p.ReadValue();
            if (!values.TryAdd(key, value))
                throw new NpyFormatException($"header repeats the key '{key}'");
            p.SkipWs();
            if (p.TryConsume(',')) { p.SkipWs(); continue; }
            p.SkipWs();
            p.Expect('}');
            break;
        }
        p.SkipWs();
        if (!p.AtEnd) throw new NpyFormatException($"unexpected text after the header dict at offset {p.Position}");

        foreach (var key in values.Keys)
            if (key is not ("descr" or "fortran_order" or "shape"))
                throw new NpyFormatException($"header has an unexpected key '{key}'");

        var descr = values.GetValueOrDefault("descr") switch
        {
            string s => s,
            null => throw new NpyFormatException("header has no 'descr'"),
            _ => throw new NpyFormatException("'descr' is not a simple dtype string (structured dtypes are not supported)"),
        };
        var fortran = values.GetValueOrDefault("fortran_order") switch
        {
            bool b => b,
            null => throw new NpyFormatException("header has no 'fortran_order'"),
            _ => throw new NpyFormatException("'fortran_order' is not True or False"),
        };
        var shape = values.GetValueOrDefault("shape") switch
        {
            long[] s => s,
            null => throw new NpyFormatException("header has no 'shape'"),
            _ => throw new NpyFormatException("'shape' is not a tuple of integers"),
        };
        return (descr, fortran, shape);
    }

    private sealed class Cursor(string text)
    {
        private int _i;
        public int Position => _i;
        public bool AtEnd => _i >= text.Length;

        public void SkipWs()
        {
            while (_i < text.Length && text[_i] is ' ' or '\t' or '\n' or '\r') _i++;
        }

        public bool TryConsume(char c)
        {
            if (_i < text.Length && text[_i] == c) { _i++; return true; }
            return false;
        }

        public void Expect(char c)
        {
            if (!TryConsume(c))
                throw new NpyFormatException(AtEnd
                    ? $"header ends where '{c}' was expected"
                    : $"header has '{text[_i]}' at offset {_i} where '{c}' was expected");
        }

        public string ReadString()
        {
            if (AtEnd || text[_i] is not ('\'' or '"'))
                throw new NpyFormatException($"header has no string at offset {_i}");
            var quote = text[_i++];
            var start = _i;
            while (_i < text.Length && text[_i] != quote)
            {
                // NumPy never escapes anything in a header; refusing escapes keeps this parser trivial.
                if (text[_i] is '\\' or '\n') throw new NpyFormatException($"header string at offset {start} has an escape or line break");
                _i++;
            }
            if (AtEnd) throw new NpyFormatException("header has an unterminated string");
            return text.Substring(start, _i++ - start);
        }

        public object ReadValue()
        {
            if (AtEnd) throw new NpyFormatException("header ends where a value was expected");
            switch (text[_i])
            {
                case '\'' or '"': return ReadString();
                case '(': return ReadIntTuple();
                case '[' or '{':
                    throw new NpyFormatException($"header has a list or dict at offset {_i}; structured dtypes are not supported");
            }
            if (TryWord("True")) return true;
            if (TryWord("False")) return false;
            if (char.IsAsciiDigit(text[_i]) || text[_i] == '-') return ReadInt();
            throw new NpyFormatException($"header has an unsupported value at offset {_i}");
        }

        private bool TryWord(string word)
        {
            if (string.CompareOrdinal(text, _i, word, 0, word.Length) != 0) return false;
            var end = _i + word.Length;
            if (end < text.Length && char.IsAsciiLetterOrDigit(text[end])) return false;
            _i = end;
            return true;
        }

        private long ReadInt()
        {
            var start = _i;
            if (text[_i] == '-') _i++;
            while (_i < text.Length && char.IsAsciiDigit(text[_i])) _i++;
            var token = text.AsSpan(start, _i - start);
            if (_i < text.Length && text[_i] == 'L') _i++; // Python 2 long suffix, seen in old files
            if (!long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
                throw new NpyFormatException($"header has an invalid or out-of-range integer '{token}'");
            return value;
        }

        private long[] ReadIntTuple()
        {
            Expect('(');
            var items = new List<long>();
            var trailingComma = false;
            SkipWs();
            while (!TryConsume(')'))
            {
                if (AtEnd || !(char.IsAsciiDigit(text[_i]) || text[_i] == '-'))
                    throw new NpyFormatException($"'shape' holds a non-integer at offset {_i}");
                items.Add(ReadInt());
                if (items.Count > 64) throw new NpyFormatException("'shape' has more than 64 dimensions");
                SkipWs();
                trailingComma = TryConsume(',');
                SkipWs();
                if (!trailingComma) { Expect(')'); break; }
            }
            // In Python "(3)" is the int 3, not a tuple; NumPy would reject it too.
            if (items.Count == 1 && !trailingComma)
                throw new NpyFormatException("'shape' is a parenthesised integer, not a tuple");
            return items.ToArray();
        }
    }
}
